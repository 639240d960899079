//! Passwords: Argon2id with the pepper as Argon2's secret input, the
//! password and email rules, and generated temporary passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SecureRandom as _;

/// OWASP's Argon2id baseline: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19_456;
const PASSES: u32 = 2;

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source failed");
    bytes
}

fn hasher(pepper: &[u8]) -> Argon2<'_> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, Some(32)).expect("static Argon2 parameters are valid");
    if pepper.is_empty() {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    } else {
        Argon2::new_with_secret(pepper, Algorithm::Argon2id, Version::V0x13, params)
            .expect("a pepper of any length is accepted")
    }
}

pub fn hash(password: &str, pepper: &[u8]) -> String {
    let salt = SaltString::encode_b64(&random::<16>()).expect("16 bytes make a valid salt");
    hasher(pepper)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .expect("hashing with valid parameters cannot fail")
}

pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with other parameters: store the new hash.
    YesRehash(String),
}

pub fn verify(password: &str, stored: &str, pepper: &[u8]) -> Verified {
    if let Some(original) = stored.strip_prefix(crate::adopt::mapping::LEGACY_PASSWORD_TAG) {
        return verify_original(password, original, pepper);
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    if hasher(pepper).verify_password(password.as_bytes(), &parsed).is_err() {
        return Verified::No;
    }
    let current = parsed.params.get_decimal("m") == Some(MEMORY_KIB) && parsed.params.get_decimal("t") == Some(PASSES);
    if current {
        Verified::Yes
    } else {
        Verified::YesRehash(hash(password, pepper))
    }
}

/// A hash carried over by `strathon adopt` from the Python original, which
/// prepends the pepper to the password and gives Argon2id no secret input.
/// A match is rehashed our way, so each user leaves the old scheme at their
/// first sign-in.
fn verify_original(password: &str, stored: &str, pepper: &[u8]) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    let mut peppered = pepper.to_vec();
    peppered.extend_from_slice(password.as_bytes());
    // The parameters (the original's m=47104, t=1, p=1) come from the hash.
    match Argon2::default().verify_password(&peppered, &parsed) {
        Ok(()) => Verified::YesRehash(hash(password, pepper)),
        Err(_) => Verified::No,
    }
}

/// Equalizes the time of a login for an unknown email with a real one.
pub fn burn(pepper: &[u8]) {
    let _ = hash("not a password", pepper);
}

pub fn check_policy(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 8 {
        return Err("Password must be at least 8 characters long.");
    }
    let letter = password.chars().any(|c| c.is_ascii_alphabetic());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let other = password.chars().any(|c| !c.is_ascii_alphanumeric());
    if letter && digit && other {
        Ok(())
    } else {
        Err("Please choose a secure password by combining letters, numbers, and special characters.")
    }
}

pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

/// A one-time password that satisfies the policy: letters, digits, symbols.
pub fn temporary(len: usize) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!@#$%^&*-_=+";
    let bytes = random::<64>();
    let pick = |set: &[u8], b: u8| set[b as usize % set.len()] as char;
    let all: Vec<u8> = [LETTERS, DIGITS, SYMBOLS].concat();
    let mut out: Vec<char> = vec![pick(LETTERS, bytes[0]), pick(DIGITS, bytes[1]), pick(SYMBOLS, bytes[2])];
    out.extend((3..len).map(|i| pick(&all, bytes[i % 64])));
    // Shuffle so the required classes are not always first.
    for i in (1..out.len()).rev() {
        out.swap(i, bytes[(i + 7) % 64] as usize % (i + 1));
    }
    out.into_iter().collect()
}

/// An opaque session token (86 url-safe characters) and its stored hash.
pub fn session_token() -> (String, String) {
    let token = URL_SAFE_NO_PAD.encode(random::<64>());
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_with_the_same_pepper() {
        let h = hash("c0rrect horse!", b"pepper");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(matches!(verify("c0rrect horse!", &h, b"pepper"), Verified::Yes));
        assert!(matches!(verify("wrong", &h, b"pepper"), Verified::No));
        assert!(matches!(verify("c0rrect horse!", &h, b"other pepper"), Verified::No));
        assert!(matches!(verify("x", "not a hash", b""), Verified::No));
    }

    #[test]
    fn old_parameters_are_rehashed_on_login() {
        let params = Params::new(8, 1, 1, Some(32)).unwrap();
        let old = Argon2::new_with_secret(b"p", Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let stored = old.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(matches!(verify("pw", &stored, b"p"), Verified::YesRehash(new) if new.contains("m=19456")));
    }

    #[test]
    fn hashes_of_the_original_verify_with_the_same_pepper_and_move_to_ours() {
        // The original: argon2-cffi with m=47104, t=1, p=1 over pepper + password.
        let params = Params::new(47_104, 1, 1, Some(32)).unwrap();
        let original = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        let phc = original
            .hash_password(b"pepperS3cret pass!", &salt)
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"));
        let stored = format!("{}{phc}", crate::adopt::mapping::LEGACY_PASSWORD_TAG);
        let Verified::YesRehash(ours) = verify("S3cret pass!", &stored, b"pepper") else {
            panic!("the original's hash must verify and be rehashed");
        };
        assert!(matches!(verify("S3cret pass!", &ours, b"pepper"), Verified::Yes));
        assert!(matches!(verify("S3cret pass!", &stored, b"other"), Verified::No));
        assert!(matches!(verify("wrong", &stored, b"pepper"), Verified::No));
        assert!(
            matches!(verify("S3cret pass!", &phc, b"pepper"), Verified::No),
            "untagged, it is read as ours"
        );
    }

    #[test]
    fn rules_and_generated_secrets() {
        assert!(check_policy("abc").is_err());
        assert!(check_policy("abcdefgh1").is_err());
        assert!(check_policy("abcdefg1!").is_ok());
        assert!(
            valid_email("a.b+c@example.co") && !valid_email("nope") && !valid_email("a@b") && !valid_email("a@b.c")
        );
        let t = temporary(16);
        assert_eq!(t.chars().count(), 16);
        assert!(check_policy(&t).is_ok(), "{t}");
        let (token, h) = session_token();
        assert_eq!(token.len(), 86);
        assert_eq!(h, token_hash(&token));
    }
}
