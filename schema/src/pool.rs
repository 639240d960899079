use std::time::Duration;

use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::AsyncPgConnection;

pub type Manager = AsyncDieselConnectionManager<AsyncPgConnection>;
pub type DbPool = bb8::Pool<Manager>;
pub type DbConn<'a> = bb8::PooledConnection<'a, Manager>;

/// Builds the shared pool without connecting: the receiver must start (and
/// answer `/health`) even while Postgres is briefly unavailable, and bb8
/// re-validates connections on checkout so a restarted server is picked up.
pub fn build(database_url: &str, max_size: u32, checkout_timeout: Duration) -> DbPool {
    let manager = Manager::new_with_config(database_url, ManagerConfig::default());
    bb8::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(checkout_timeout)
        .test_on_check_out(true)
        .build_unchecked(manager)
}

/// Opens a connection that does not belong to the pool, for work that holds
/// session state (advisory locks) across calls.
pub async fn dedicated(database_url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    use diesel_async::AsyncConnection;
    AsyncPgConnection::establish(database_url).await
}
