//! A real HTTP endpoint on loopback that stands in for a team's webhook
//! receiver: it records every request and answers with scripted statuses
//! (200 once the script runs out). It can be stopped and started again on
//! the same port, like a receiving service being redeployed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::{dev::ServerHandle, web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook bodies are JSON")
    }

    /// How many `v1,` signatures in the header verify with `secret`
    /// (`whsec_…`), exactly as a receiving service checks them.
    pub fn verified_by(&self, secret: &str) -> usize {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
            .expect("base64 secret");
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let mut signed = format!(
            "{}.{}.",
            self.header("webhook-id").unwrap_or_default(),
            self.header("webhook-timestamp").unwrap_or_default()
        )
        .into_bytes();
        signed.extend_from_slice(&self.body);
        self.header("webhook-signature")
            .unwrap_or_default()
            .split(' ')
            .filter_map(|t| t.strip_prefix("v1,"))
            .filter_map(|sig| STANDARD.decode(sig).ok())
            .filter(|sig| hmac::verify(&key, &signed, sig).is_ok())
            .count()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<u16>,
}

pub struct Hook {
    pub port: u16,
    state: Arc<Mutex<State>>,
    running: Option<(ServerHandle, JoinHandle<()>)>,
}

impl Hook {
    pub fn start() -> Hook {
        let mut hook = Hook {
            port: 0,
            state: Arc::default(),
            running: None,
        };
        hook.serve();
        hook
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The statuses the next requests get, in order.
    pub fn respond(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script = statuses.iter().copied().collect();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        crate::harness::collected("webhook requests", n, timeout, || self.received()).await
    }

    /// Stops listening; connections are refused until `serve` again.
    pub async fn stop(&mut self) {
        if let Some((handle, thread)) = self.running.take() {
            handle.stop(false).await;
            let _ = thread.join();
        }
    }

    /// Listens (again) on the same port.
    pub fn serve(&mut self) {
        let state = self.state.clone();
        let port = self.port;
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(state.clone()))
                        .default_service(web::to(record))
                })
                .workers(1)
                .bind(("127.0.0.1", port))
                .expect("bind the webhook receiver");
                let port = server.addrs()[0].port();
                let server = server.run();
                tx.send((server.handle(), port)).expect("report the port");
                let _ = server.await;
            })
        });
        let (handle, port) = rx.recv().expect("the webhook receiver started");
        self.port = port;
        self.running = Some((handle, thread));
    }
}

async fn record(req: HttpRequest, body: web::Bytes, state: web::Data<Arc<Mutex<State>>>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let mut state = state.lock().unwrap();
    state.received.push(Received {
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let status = state.script.pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a valid status")).finish()
}
