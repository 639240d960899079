//! The supervised periodic actor every background job runs in.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures::future::LocalBoxFuture;
use futures::FutureExt as _;

use crate::{ActorMetrics, Leadership, Registry};

/// A periodic job. `tick` returns a future that owns what it needs, so the
/// actor can keep answering `Ping` while a slow tick runs.
pub trait Job: Unpin + 'static {
    /// The name `/ready` and the metrics use, e.g. `retention_task`.
    fn name(&self) -> &'static str;
    fn interval(&self) -> Duration;
    /// Advisory lock id for jobs that must run on one replica only.
    fn leader_lock(&self) -> Option<i64> {
        None
    }
    fn tick(&mut self) -> LocalBoxFuture<'static, Result<(), JobError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("database error: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("no database connection: {0}")]
    Pool(String),
    #[error("{0}")]
    Other(String),
}

impl<E: std::error::Error + 'static> From<bb8::RunError<E>> for JobError {
    fn from(e: bb8::RunError<E>) -> Self {
        JobError::Pool(e.to_string())
    }
}

/// What every job actor shares.
#[derive(Clone)]
pub struct Supervision {
    pub registry: Registry,
    pub metrics: ActorMetrics,
    pub database_url: String,
    /// Fault drill: the named actor panics on its first tick, once.
    pub panic_once: Option<String>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Ping;

/// Runs a tick now rather than at the next interval (after the current one
/// if a tick is running): work arrived that should not wait.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Finish the tick in progress, start no other, and give back what the job
/// holds (its leader lock). The sender is answered once that is done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop(pub tokio::sync::oneshot::Sender<()>);

pub struct JobActor<J: Job> {
    job: J,
    sup: Supervision,
    leadership: Option<Leadership>,
    running: bool,
    /// A `Stop` arrived: no new ticks.
    stopping: bool,
    /// Who waits for the running tick to end before the actor lets go.
    on_idle: Option<tokio::sync::oneshot::Sender<()>>,
    /// A `Wake` arrived during a tick; run again when it ends.
    woken: bool,
    panic_pending: bool,
}

/// Starts `job` under a supervisor and registers it with the registry.
pub fn spawn<J: Job>(job: J, sup: &Supervision) -> Addr<JobActor<J>> {
    let name = job.name();
    let interval = job.interval();
    let leadership = job
        .leader_lock()
        .map(|id| Leadership::new(id, sup.database_url.clone()));
    let panic_pending = sup.panic_once.as_deref() == Some(name);
    let sup_for_actor = sup.clone();
    let mut slot = Some((job, leadership));
    let addr = Supervisor::start(move |_| {
        let (job, leadership) = slot
            .take()
            .expect("a supervised job is constructed once; restarts reuse the actor");
        JobActor {
            job,
            sup: sup_for_actor,
            leadership,
            running: false,
            stopping: false,
            on_idle: None,
            woken: false,
            panic_pending,
        }
    });
    sup.registry.register(name, interval, addr.clone().recipient());
    sup.registry.register_stop(addr.clone().recipient());
    addr
}

impl<J: Job> Actor for JobActor<J> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.run_tick(ctx);
        ctx.run_interval(self.job.interval(), |act, ctx| act.run_tick(ctx));
    }
}

impl<J: Job> Supervised for JobActor<J> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let name = self.job.name();
        tracing::warn!(actor = name, "restarting actor after a panic");
        self.running = false;
        self.sup.registry.record_restart(name);
        self.sup.metrics.restarts.with_label_values(&[name]).inc();
    }
}

impl<J: Job> Handler<Ping> for JobActor<J> {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Self::Context) {}
}

impl<J: Job> Handler<Stop> for JobActor<J> {
    type Result = ();
    fn handle(&mut self, Stop(done): Stop, ctx: &mut Self::Context) {
        self.stopping = true;
        if self.running {
            self.on_idle = Some(done);
        } else {
            self.let_go(ctx, done);
        }
    }
}

impl<J: Job> Handler<Wake> for JobActor<J> {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        if self.running {
            self.woken = true;
        } else {
            self.run_tick(ctx);
        }
    }
}

enum Outcome {
    Ran,
    Standby,
}

impl<J: Job> JobActor<J> {
    /// Releases the leader lock, then answers `done`.
    fn let_go(&mut self, ctx: &mut Context<Self>, done: tokio::sync::oneshot::Sender<()>) {
        let leadership = self.leadership.take();
        ctx.spawn(
            async move {
                if let Some(l) = leadership {
                    l.release().await;
                }
                let _ = done.send(());
            }
            .into_actor(self),
        );
    }

    fn run_tick(&mut self, ctx: &mut Context<Self>) {
        if self.running || self.stopping {
            // Never stack ticks, and start none once stopping.
            return;
        }
        self.running = true;
        let name = self.job.name();
        let inject_panic = std::mem::take(&mut self.panic_pending);
        let work = self.job.tick();
        let mut leadership = self.leadership.take();
        let started = Instant::now();
        let fut = async move {
            if inject_panic {
                panic!("fault drill: {name} was asked to panic on its first tick");
            }
            // Leadership travels with the tick and comes back even when the
            // work fails, so a failed tick does not hand the lock away.
            let outcome = async {
                let leading = match leadership.as_mut() {
                    Some(l) => l.ensure().await?,
                    None => true,
                };
                if !leading {
                    return Ok(Outcome::Standby);
                }
                work.await.map(|()| Outcome::Ran)
            }
            .await;
            (outcome, leadership)
        };
        let fut = AssertUnwindSafe(fut).catch_unwind();
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.running = false;
            let metrics = &act.sup.metrics;
            metrics.tick_seconds.with_label_values(&[name]).observe(started.elapsed().as_secs_f64());
            let outcome = match result {
                Ok((outcome, leadership)) => {
                    act.leadership = leadership;
                    outcome
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    tracing::error!(actor = name, panic = %message, "tick panicked; the supervisor will restart the actor");
                    metrics.ticks.with_label_values(&[name, "panic"]).inc();
                    act.sup.registry.record_panic(name, message);
                    // The lock's connection went down with the tick.
                    act.leadership = act.job.leader_lock().map(|id| Leadership::new(id, act.sup.database_url.clone()));
                    ctx.stop();
                    return;
                }
            };
            match outcome {
                Ok(outcome) => {
                    let ran = matches!(outcome, Outcome::Ran);
                    metrics.ticks.with_label_values(&[name, if ran { "ok" } else { "standby" }]).inc();
                    act.sup.registry.record_ok(name, act.leadership.as_ref().map(|_| ran));
                }
                Err(e) => {
                    tracing::warn!(actor = name, error = %e, "tick failed");
                    metrics.ticks.with_label_values(&[name, "error"]).inc();
                    act.sup.registry.record_error(name, e.to_string());
                }
            }
            if let Some(done) = act.on_idle.take() {
                act.let_go(ctx, done);
            } else if std::mem::take(&mut act.woken) {
                act.run_tick(ctx);
            }
        }));
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
