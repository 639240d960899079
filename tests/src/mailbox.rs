//! A real SMTP server on loopback that keeps every message it accepts, for
//! the password-reset emails (plain SMTP: the receiver under test is told
//! `STRATHON_SMTP_STARTTLS=false`, as for a relay on the same host).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server, SslConfig};

#[derive(Clone, Default)]
struct Collector {
    delivered: Arc<Mutex<Vec<String>>>,
    current: Vec<u8>,
}

impl Handler for Collector {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let message = String::from_utf8_lossy(&std::mem::take(&mut self.current)).into_owned();
        self.delivered.lock().unwrap().push(message);
        OK
    }
}

pub struct Mailbox {
    pub port: u16,
    delivered: Arc<Mutex<Vec<String>>>,
}

impl Mailbox {
    pub fn start() -> Mailbox {
        let port = crate::harness::free_port();
        let collector = Collector::default();
        let delivered = collector.delivered.clone();
        std::thread::spawn(move || {
            let mut server = Server::new(collector);
            server
                .with_name("mail.test")
                .with_ssl(SslConfig::None)
                .expect("no TLS")
                .with_addr(("127.0.0.1", port))
                .expect("bind the SMTP server");
            let _ = server.serve();
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the SMTP server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mailbox { port, delivered }
    }

    pub fn messages(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        crate::harness::collected("emails", n, timeout, || self.messages()).await
    }
}
