//! Standard Webhooks v1 signatures: `v1,<base64 HMAC-SHA256>` over
//! `<webhook-id>.<timestamp>.<body>`, keyed with the bytes after `whsec_`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;

pub const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key of a `whsec_…` secret; None for anything else.
pub fn key_bytes(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// The `webhook-signature` header: one `v1,` token per key (so receivers
/// keep verifying while a key is rotated), or None without keys.
pub fn header(keys: &[Vec<u8>], webhook_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let mut message = format!("{webhook_id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let tokens: Vec<String> = keys
        .iter()
        .map(|k| {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k), &message);
            format!("v1,{}", STANDARD.encode(tag.as_ref()))
        })
        .collect();
    Some(tokens.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test suite.
        let key = key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = header(
            std::slice::from_ref(&key),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        let two = header(&[key.clone(), key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b"{}").unwrap();
        assert_eq!(two.split(' ').count(), 2);
    }

    #[test]
    fn only_whsec_secrets_and_some_key_sign() {
        assert_eq!(key_bytes("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None);
        assert_eq!(key_bytes("whsec_!!!"), None);
        assert_eq!(header(&[], "msg_x", 1, b"{}"), None);
    }
}
