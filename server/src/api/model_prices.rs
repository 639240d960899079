//! `/v1/model_prices`: per-project USD-per-token overrides of the catalog.

use actix_web::{delete, get, post};
use std::str::FromStr as _;

use actix_web::{web, HttpResponse};
use bigdecimal::{BigDecimal, RoundingMode, Zero as _};
use diesel_async::AsyncConnection as _;
use serde::Serialize;
use serde_json::{json, Value};
use strathon_schema::model_prices::{self, Override};
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::object;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// A project's price for a model, overriding the catalog's.
#[derive(Serialize, ToSchema)]
#[schema(as = ModelPrice)]
pub struct ModelPriceView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub model_name: String,
    /// USD per input token, as a decimal string.
    pub input_cost_per_token: String,
    /// USD per output token, as a decimal string.
    pub output_cost_per_token: String,
    pub created_at: String,
    pub updated_at: String,
}

fn view(o: &Override) -> ModelPriceView {
    ModelPriceView {
        id: o.id,
        project_id: o.project_id,
        model_name: o.model_name.clone(),
        input_cost_per_token: o.input_cost_per_token.normalized().to_plain_string(),
        output_cost_per_token: o.output_cost_per_token.normalized().to_plain_string(),
        created_at: o.created_at.to_rfc3339(),
        updated_at: o.updated_at.to_rfc3339(),
    }
}

fn render(o: &Override) -> Value {
    serde_json::to_value(view(o)).expect("a price serializes")
}

/// A price as its column (`numeric(16, 12)`) keeps it: rounded to 12 places
/// as Postgres would, and refused from 10000 on. Rounding first matters:
/// `9999.9999999999999` is below 10000 but rounds to it, which overflowed
/// the column (a 500), and a scale beyond what Postgres stores (`1e-20000`)
/// failed there too.
fn column_price(d: &BigDecimal) -> Result<BigDecimal, ApiError> {
    let integer_digits = (d.digits() as i64).saturating_sub(d.fractional_digit_count());
    match (integer_digits <= 4).then(|| d.with_scale_round(12, RoundingMode::HalfUp)) {
        Some(rounded) if rounded < 10_000 => Ok(rounded),
        _ => Err(ApiError::BadRequest("prices must be below 10000 USD per token".into())),
    }
}

/// A decimal string such as `0.000003` or `3e-6`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `upsert` parses it
#[schema(pattern = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")]
pub struct DecimalString(String);

/// A price: a decimal string, or a JSON number.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: `upsert` reads either form
#[serde(untagged)]
pub enum PriceInput {
    Decimal(DecimalString),
    Number(f64),
}

/// `POST /v1/model_prices`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
pub struct ModelPriceSet {
    #[schema(min_length = 1, max_length = 200)]
    model_name: String,
    /// USD per input token: at least 0 and below 10000 (400 otherwise);
    /// stored to 12 decimal places.
    input_cost_per_token: PriceInput,
    /// USD per output token, likewise.
    output_cost_per_token: PriceInput,
}

#[derive(Serialize, ToSchema)]
pub struct ModelPriceSaved {
    #[serde(rename = "override")]
    pub price: ModelPriceView,
}

/// Set a model's price
///
/// Creates or replaces the project's price for the model (USD per token);
/// costs of spans ingested from now on use it.
#[utoipa::path(
    tag = "Model prices",
    operation_id = "set_model_price",
    security(("bearer" = ["model_prices:write"])),
    request_body = ModelPriceSet,
    responses(
        (status = 200, description = "The price, saved.", body = ModelPriceSaved,
            links(("DeleteModelPrice" = (operation_id = "delete_model_price", parameters(("model_name" = "$response.body#/override/model_name")))))),
        (status = 400, description = "A price is not a decimal, negative, or 10000 or more."),
    ),
)]
#[post("/v1/model_prices")]
pub async fn upsert(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::MODEL_PRICES_WRITE)?;
    let body = object(body)?;
    let model = body
        .get("model_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if model.is_empty() || model.chars().count() > 200 {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "string_length", "loc": ["body", "model_name"], "msg": "model_name must be 1 to 200 characters"}),
        ]));
    }
    let price = |key: &str| -> Result<BigDecimal, ApiError> {
        let raw = match body.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            other => other.map(Value::to_string).unwrap_or_default(),
        };
        BigDecimal::from_str(raw.trim())
            .map_err(|_| ApiError::BadRequest(format!("{key} must be a decimal string (got '{raw}')")))
    };
    let (input, output) = (price("input_cost_per_token")?, price("output_cost_per_token")?);
    if input < BigDecimal::zero() || output < BigDecimal::zero() {
        return Err(ApiError::BadRequest("prices must be non-negative".into()));
    }
    let (input, output) = (column_price(&input)?, column_price(&output)?);
    let mut conn = state.pool.get().await?;
    let saved = conn
        .transaction(async |conn| {
            let o = model_prices::upsert(conn, auth.project_id, &model, &input, &output).await?;
            audit::record(
                conn,
                &auth,
                Event::new("model_price.set", "model_price", &model).after(render(&o)),
            )
            .await?;
            Ok::<_, ApiError>(o)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(ModelPriceSaved { price: view(&saved) }))
}

#[derive(Serialize, ToSchema)]
pub struct ModelPriceList {
    /// By model name.
    pub overrides: Vec<ModelPriceView>,
}

/// List model prices
///
/// The project's own prices, by model name (the catalog's are not listed).
#[utoipa::path(
    tag = "Model prices",
    operation_id = "list_model_prices",
    security(("bearer" = ["model_prices:read"])),
    responses((status = 200, description = "The prices.", body = ModelPriceList)),
)]
#[get("/v1/model_prices")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::MODEL_PRICES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = model_prices::list(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(ModelPriceList {
        overrides: all.iter().map(view).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ModelPriceDeleted {
    /// Always true.
    pub deleted: bool,
}

/// Delete a model price
///
/// The catalog's price applies again.
#[utoipa::path(
    tag = "Model prices",
    operation_id = "delete_model_price",
    security(("bearer" = ["model_prices:write"])),
    params(("model_name" = String, Path, description = "The model's name, as set.")),
    responses((status = 200, description = "Deleted.", body = ModelPriceDeleted)),
)]
#[delete("/v1/model_prices/{model_name}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::MODEL_PRICES_WRITE)?;
    let model = path.into_inner();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        if model_prices::delete(conn, auth.project_id, &model).await? == 0 {
            return Err(ApiError::NotFound("override not found".into()));
        }
        audit::record(conn, &auth, Event::new("model_price.delete", "model_price", &model)).await
    })
    .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(ModelPriceDeleted { deleted: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_what_the_column_keeps() {
        let price = |s: &str| {
            column_price(&BigDecimal::from_str(s).unwrap())
                .map(|d| d.normalized().to_plain_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(price("0.5"), Ok("0.5".into()));
        assert_eq!(price("1e-20000"), Ok("0".into()));
        assert_eq!(price("0.0000000000005"), Ok("0.000000000001".into()));
        assert_eq!(price("9999.999999999999"), Ok("9999.999999999999".into()));
        let too_much = Err("prices must be below 10000 USD per token".to_owned());
        for s in ["9999.9999999999999", "10000", "1e1000000000"] {
            assert_eq!(price(s), too_much, "{s}");
        }
    }
}
