//! Policies as pure logic: the CEL environment the SDK shares, `applies_to`
//! matching, write-time validation and the template catalog. No I/O.

pub mod applies_to;
pub mod cel;
pub mod templates;
pub mod validate;

pub const ACTIONS: [&str; 7] = [
    "alert",
    "allow",
    "block",
    "log",
    "require_approval",
    "steer",
    "throttle",
];
