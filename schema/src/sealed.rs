//! Secrets stored in columns (TOTP seeds, webhook signing secrets): sealed
//! with Fernet under `STRATHON_ENCRYPTION_KEY` when one is configured, kept
//! as they are otherwise (the receiver warns about that at boot).

/// Marks a stored value as Fernet-sealed; anything else is the plain secret.
const SEALED: &str = "enc:";

/// The value to store: sealed when an encryption key is configured.
pub fn seal(secret: &str, key: Option<&str>) -> String {
    match key.and_then(fernet::Fernet::new) {
        Some(f) => format!("{SEALED}{}", f.encrypt(secret.as_bytes())),
        None => secret.to_owned(),
    }
}

/// Whether a stored value is sealed. A plain value under a configured key
/// came from elsewhere (an adopted database) and is worth sealing.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

/// The secret from a stored value; None when it is sealed and the key is
/// missing or wrong.
pub fn open(stored: &str, key: Option<&str>) -> Option<String> {
    match stored.strip_prefix(SEALED) {
        Some(token) => {
            let plain = key.and_then(fernet::Fernet::new)?.decrypt(token).ok()?;
            String::from_utf8(plain).ok()
        }
        None => Some(stored.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_seal_only_with_a_key_and_open_only_with_it() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        assert_eq!(seal(secret, None), secret);
        let key = fernet::Fernet::generate_key();
        let sealed = seal(secret, Some(&key));
        assert!(is_sealed(&sealed) && !sealed.contains(secret) && !is_sealed(secret));
        assert_eq!(open(&sealed, Some(&key)).as_deref(), Some(secret));
        assert_eq!(open(&sealed, None), None);
        assert_eq!(open(&sealed, Some(&fernet::Fernet::generate_key())), None);
        assert_eq!(open(secret, Some(&key)).as_deref(), Some(secret));
    }
}
