//! Dashboard accounts as pure logic: password hashing and rules, session
//! tokens, second factors, and what each role may do.

pub mod mfa;
pub mod password;
pub mod roles;
