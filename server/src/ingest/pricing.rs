//! Span cost: tokens × per-token price of the request model, from the
//! project's overrides first, then the built-in catalog.

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::LazyLock;

use bigdecimal::BigDecimal;

/// USD per token (input, output), a subset of the public LiteLLM catalog.
const CATALOG: [(&str, &str, &str); 20] = [
    ("gpt-4o", "0.0000025", "0.00001"),
    ("gpt-4o-2024-08-06", "0.0000025", "0.00001"),
    ("gpt-4o-mini", "0.00000015", "0.0000006"),
    ("gpt-4-turbo", "0.00001", "0.00003"),
    ("gpt-4", "0.00003", "0.00006"),
    ("gpt-3.5-turbo", "0.0000005", "0.0000015"),
    ("o1", "0.000015", "0.00006"),
    ("o1-mini", "0.000003", "0.000012"),
    ("o3-mini", "0.0000011", "0.0000044"),
    ("claude-3-5-sonnet-20241022", "0.000003", "0.000015"),
    ("claude-3-5-sonnet-latest", "0.000003", "0.000015"),
    ("claude-3-5-haiku-20241022", "0.0000008", "0.000004"),
    ("claude-3-opus-20240229", "0.000015", "0.000075"),
    ("claude-3-sonnet-20240229", "0.000003", "0.000015"),
    ("claude-3-haiku-20240307", "0.00000025", "0.00000125"),
    ("gemini-1.5-pro", "0.00000125", "0.000005"),
    ("gemini-1.5-flash", "0.000000075", "0.0000003"),
    ("gemini-2.0-flash", "0.0000001", "0.0000004"),
    ("deepseek-chat", "0.00000014", "0.00000028"),
    ("deepseek-reasoner", "0.00000055", "0.00000219"),
];

pub type Prices = HashMap<String, (BigDecimal, BigDecimal)>;

static BUILT_IN: LazyLock<Prices> = LazyLock::new(|| {
    CATALOG
        .iter()
        .filter_map(|(model, i, o)| {
            Some((
                model.to_string(),
                (BigDecimal::from_str(i).ok()?, BigDecimal::from_str(o).ok()?),
            ))
        })
        .collect()
});

/// Cost in USD rounded to 8 decimals; `None` for an unknown model or when
/// both token counts are missing or zero (never a misleading 0).
pub fn cost(
    model: &str,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    overrides: &Prices,
) -> Option<BigDecimal> {
    let (i, o) = (input_tokens.unwrap_or(0), output_tokens.unwrap_or(0));
    if i <= 0 && o <= 0 {
        return None;
    }
    let (in_price, out_price) = overrides.get(model).or_else(|| BUILT_IN.get(model))?;
    let total = in_price * BigDecimal::from(i.max(0)) + out_price * BigDecimal::from(o.max(0));
    Some(total.round(8).normalized())
}

/// Whether a cost fits the stored columns: non-negative, below a billion
/// dollars per span, and with no more fractional digits than Postgres can
/// parse as numeric (16383; the column then rounds to 8). Found by fuzzing:
/// `1e-20000` passed the first two checks and failed the whole batch.
pub fn storable(cost: &BigDecimal) -> bool {
    cost.sign() != bigdecimal::num_bigint::Sign::Minus
        && *cost < 1_000_000_000
        && cost.as_bigint_and_exponent().1 <= 16_383
}

/// Whether a model has any price (for the unknown-model metric).
pub fn known(model: &str, overrides: &Prices) -> bool {
    overrides.contains_key(model) || BUILT_IN.contains_key(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_prices_tokens() {
        let none = Prices::new();
        // 1000 × 0.0000025 + 500 × 0.00001 = 0.0075
        assert_eq!(
            cost("gpt-4o", Some(1000), Some(500), &none).unwrap().to_string(),
            "0.0075"
        );
        assert_eq!(
            cost("gpt-4o-mini", Some(3), None, &none).unwrap().to_string(),
            "4.5E-7".parse::<BigDecimal>().unwrap().to_string()
        );
        assert_eq!(cost("unknown-model", Some(10), Some(10), &none), None);
        assert_eq!(cost("gpt-4o", None, Some(0), &none), None);
    }

    #[test]
    fn overrides_win_over_the_catalog() {
        let mut overrides = Prices::new();
        overrides.insert("gpt-4o".into(), (BigDecimal::from(1), BigDecimal::from(2)));
        overrides.insert(
            "in-house".into(),
            (BigDecimal::from_str("0.5").unwrap(), BigDecimal::from(0)),
        );
        assert_eq!(
            cost("gpt-4o", Some(1), Some(1), &overrides).unwrap(),
            BigDecimal::from(3)
        );
        assert_eq!(
            cost("in-house", Some(4), None, &overrides).unwrap(),
            BigDecimal::from(2)
        );
        assert!(known("in-house", &overrides) && known("o1", &overrides) && !known("nope", &overrides));
        assert!(
            storable(&BigDecimal::from(5))
                && !storable(&BigDecimal::from(-1))
                && !storable(&BigDecimal::from(10i64.pow(12)))
                && !storable(&"1e-20000".parse::<BigDecimal>().unwrap())
                && storable(&"1e-300".parse::<BigDecimal>().unwrap())
        );
    }
}
