//! Wakes the sender when Postgres announces committed deliveries
//! (`NOTIFY strathon_webhooks`). Losing the connection only delays
//! deliveries until the next sweep; it reconnects by itself.

use std::time::Duration;

use actix::Recipient;
use futures::StreamExt as _;
use tokio_postgres::AsyncMessage;

use crate::supervisor::Wake;

/// The channel the `webhook_deliveries` trigger notifies.
const LISTEN: &str = "LISTEN strathon_webhooks";

pub fn spawn(database_url: String, wake: Recipient<Wake>) {
    actix::spawn(async move {
        // Doubles while Postgres stays away, so an outage is not a log line
        // a second; a connection that worked starts the count over.
        let mut pause = Duration::from_secs(1);
        loop {
            let started = std::time::Instant::now();
            if let Err(e) = listen(&database_url, &wake).await {
                tracing::warn!(error = %e, retry_in = ?pause, "webhook listener lost its connection; reconnecting");
            }
            if started.elapsed() > Duration::from_secs(60) {
                pause = Duration::from_secs(1);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    });
}

async fn listen(database_url: &str, wake: &Recipient<Wake>) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listening = client.batch_execute(LISTEN);
    futures::pin_mut!(listening);
    // The connection must be polled for LISTEN to complete.
    loop {
        tokio::select! {
            done = &mut listening => { done?; break; }
            message = messages.next() => match message {
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
                Some(Ok(_)) => {}
            }
        }
    }
    // Anything committed while we were not listening is due now.
    wake.do_send(Wake);
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(_) = message? {
            wake.do_send(Wake);
        }
    }
    Ok(())
}
