//! Black-box tests for the `strathon` binary.
//!
//! Every test starts the real binary over real HTTP against a Postgres
//! database of its own, cloned from a migrated template (see [`harness`]),
//! so tests run in parallel. Build the binary first (`tests/run` does).

pub mod harness;
pub mod hook;
pub mod mailbox;
pub mod original;
pub mod otlp;

#[cfg(test)]
mod accounts;
#[cfg(test)]
mod actors;
#[cfg(test)]
mod adopt;
#[cfg(test)]
mod analytics;
#[cfg(test)]
mod audit;
#[cfg(test)]
mod audit_streams;
#[cfg(test)]
mod auth;
#[cfg(test)]
mod config;
#[cfg(test)]
mod control;
#[cfg(test)]
mod dashboard;
#[cfg(test)]
mod detectors;
#[cfg(test)]
mod hygiene;
#[cfg(test)]
mod ingest;
#[cfg(test)]
mod insights;
#[cfg(test)]
mod integrations;
#[cfg(test)]
mod isolation;
#[cfg(test)]
mod keys;
#[cfg(test)]
mod logging;
#[cfg(test)]
mod migrations;
#[cfg(test)]
mod probes;
#[cfg(test)]
mod projects;
#[cfg(test)]
mod rate_limit;
#[cfg(test)]
mod reads;
#[cfg(test)]
mod reports;
#[cfg(test)]
mod security_tools;
#[cfg(test)]
mod webhooks;
