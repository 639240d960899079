//! The Strathon receiver as a library: the `strathon` binary is a thin
//! wrapper around it, and the fuzz targets and benchmarks reuse its pure
//! modules (OTLP conversion, pricing, sampling, redaction).

pub mod accounts;
pub mod admin;
pub mod adopt;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod banner;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod dashboard;
pub mod decisions;
pub mod error;
pub mod hygiene;
pub mod ingest;
pub mod inventory;
pub mod keys;
pub mod logging;
pub mod login;
pub mod mail;
pub mod mcp;
pub mod membership;
pub mod metrics;
pub mod middleware;
pub mod migrations;
pub mod policy;
pub mod rate_limit;
pub mod serve;
pub mod shutdown;
pub mod state;
