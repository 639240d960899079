//! `strathon keys generate`: the three security keys in the formats the
//! receiver expects, ready to paste into `.env`, without Python.

use crate::accounts::password::random;

/// `.env` lines for a new audit HMAC key (64 hex), Fernet key and pepper (64 hex).
pub fn generate() -> String {
    format!(
        "STRATHON_AUDIT_HMAC_KEY={}\nSTRATHON_ENCRYPTION_KEY={}\nSTRATHON_PASSWORD_PEPPER={}\n",
        hex::encode(random::<32>()),
        fernet::Fernet::generate_key(),
        hex::encode(random::<32>()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_formats_the_receiver_accepts() {
        let out = generate();
        let value = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_owned()
        };
        let audit = value("STRATHON_AUDIT_HMAC_KEY");
        assert!(audit.len() == 64 && audit.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(fernet::Fernet::new(&value("STRATHON_ENCRYPTION_KEY")).is_some());
        assert_eq!(value("STRATHON_PASSWORD_PEPPER").len(), 64);
        assert_ne!(generate(), out, "fresh keys every time");
    }
}
