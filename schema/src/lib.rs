//! Everything that touches Postgres: the diesel schema, row models, typed
//! query functions, the connection pool, migrations and partition naming.
//!
//! Query functions take `&mut AsyncPgConnection`, so the same function runs
//! on a pooled connection or inside a caller's transaction, and they return
//! `diesel::QueryResult`; translating failures for clients is the server's job.

pub mod analytics;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod audit_streams;
pub mod breakers;
pub mod budgets;
pub mod channels;
pub mod detectors;
pub mod gateway;
pub mod halts;
pub mod ingest;
pub mod integrations;
pub mod migrate;
pub mod model_prices;
pub mod ownership;
pub mod partitions;
pub mod password_resets;
pub mod policies;
pub mod pool;
pub mod projects;
pub mod schema;
pub mod sealed;
pub mod sessions;
pub mod settings;
pub mod spans;
pub mod traces;
pub mod users;
pub mod webhooks;

pub use diesel_async::AsyncPgConnection;
pub use pool::{DbConn, DbPool};
