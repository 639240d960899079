//! Background actors and the machinery that keeps them honest.
//!
//! Every periodic job runs inside [`JobActor`], an actix actor under
//! `Supervisor`: a panic in a tick stops the actor, the supervisor restarts
//! it and the restart is counted. Each tick is recorded in the [`Registry`]
//! that `/ready` reads, and each actor answers [`Ping`] so readiness can tell
//! a dead actor from a slow one. Jobs that must run once across replicas take
//! a session advisory lock on a dedicated connection ([`Leadership`]).

pub mod audit;
pub mod budget_monitor;
pub mod cleanup;
pub mod drift;
pub mod heartbeats;
pub mod incidents;
pub mod ingest_writer;
pub mod leader;
pub mod metrics;
pub mod partitions;
pub mod reapers;
pub mod registry;
pub mod retention;
pub mod supervisor;
pub mod webhooks;

pub use leader::Leadership;
pub use metrics::ActorMetrics;
pub use registry::{Check, Registry};
pub use supervisor::{spawn, Job, JobError, Ping, Stop, Supervision, Wake};
