//! The second factor: RFC 6238 TOTP (SHA-1, 6 digits, 30 s, ±1 step, as
//! authenticator apps expect), its secret sealed at rest (`strathon_schema::sealed`), and
//! single-use recovery codes kept only as SHA-256 hashes.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use totp_rs::{Algorithm, Builder, Secret};

use super::password::{random, token_hash};

/// A fresh 160-bit secret as 32 base32 characters.
pub fn new_secret() -> String {
    Secret::from(random::<20>().to_vec()).to_base32()
}

pub fn otpauth_uri(email: &str, secret: &str) -> String {
    let label = utf8_percent_encode(email, NON_ALPHANUMERIC);
    format!("otpauth://totp/Strathon:{label}?secret={secret}&issuer=Strathon")
}

/// The time step whose code `code` is, if it is the secret's code for
/// `unix_time` or one step either side.
pub fn code_step(secret_base32: &str, code: &str, unix_time: u64) -> Option<u64> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .build();
    totp.ok()?.check(code.trim(), unix_time)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Eight recovery codes (8 lowercase hex characters) and their hashes.
pub fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..8).map(|_| hex::encode(random::<4>())).collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

pub fn recovery_hash(code: &str) -> String {
    token_hash(code.trim().to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", 8 digits
    // truncated to the 6 an authenticator shows.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn code_matches(secret: &str, code: &str, t: u64) -> bool {
        code_step(secret, code, t).is_some()
    }

    #[test]
    fn rfc_6238_vectors_match_within_one_step() {
        assert_eq!(code_step(RFC_SECRET, "081804", 1111111109 + 30), Some(1111111109 / 30));
        assert!(code_matches(RFC_SECRET, "287082", 59));
        assert!(code_matches(RFC_SECRET, "081804", 1111111109));
        assert!(
            code_matches(RFC_SECRET, "081804", 1111111109 + 30),
            "one step late is accepted"
        );
        assert!(
            !code_matches(RFC_SECRET, "081804", 1111111109 + 90),
            "three steps late is not"
        );
        assert!(!code_matches(RFC_SECRET, "000000", 59));
        assert!(!code_matches("not base32!", "287082", 59));
    }

    #[test]
    fn uri_and_recovery_codes() {
        assert_eq!(
            otpauth_uri("a+b@example.com", "ABC"),
            "otpauth://totp/Strathon:a%2Bb%40example%2Ecom?secret=ABC&issuer=Strathon"
        );
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), 8);
        assert!(codes
            .iter()
            .all(|c| c.len() == 8 && c.chars().all(|ch| ch.is_ascii_hexdigit())));
        assert_eq!(recovery_hash(&codes[0].to_uppercase()), hashes[0]);
    }
}
