//! Dashboard accounts as pure logic: password hashing and rules, session
//! tokens, and what each role may do.

pub mod password;
pub mod roles;
