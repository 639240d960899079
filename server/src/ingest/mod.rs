//! Trace ingest: OTLP transport, conversion to stored rows, and the pure
//! rules applied on the way (pricing, sampling, redaction).

pub mod context;
pub mod convert;
pub mod credentials;
pub mod metrics;
pub mod otlp;
pub mod pipeline;
pub mod pricing;
pub mod redaction;
pub mod sampling;
