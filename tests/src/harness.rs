//! The one test harness: databases, private Postgres clusters, and the real
//! receiver process.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::Value;
use uuid::Uuid;

pub use strathon_schema::api_keys::DEV_KEY_RAW;
pub use strathon_schema::projects::DEFAULT_PROJECT_ID;

/// Where test databases are created: any Postgres the tests may create
/// databases on (default: the local server, trust auth).
pub fn server_url() -> String {
    std::env::var("STRATHON_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn db_url(name: &str) -> String {
    format!("{}/{name}", server_url())
}

async fn admin() -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(&db_url("postgres"), tokio_postgres::NoTls)
        .await
        .context("connecting to the test Postgres (is it running? tests/run starts it)")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A fingerprint of `migrations/`, so a changed migration gets a new template.
fn migrations_fingerprint() -> String {
    let mut files = BTreeMap::new();
    let dir = workspace_root().join("migrations");
    for entry in std::fs::read_dir(&dir).expect("migrations/ exists").flatten() {
        for file in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            let body = std::fs::read(file.path()).unwrap_or_default();
            files.insert(file.path().display().to_string(), body);
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&files, &mut hasher);
    format!("{:016x}", std::hash::Hasher::finish(&hasher))
}

/// Serializes template creation and cloning across test processes.
const TEMPLATE_LOCK: i64 = 0x5374_7261_5465_7374;

async fn ensure_template(admin: &tokio_postgres::Client) -> anyhow::Result<String> {
    let name = format!("strathon_tpl_{}", migrations_fingerprint());
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if exists {
        return Ok(name);
    }
    let building = format!("{name}_building");
    // One statement per call: CREATE DATABASE refuses an implicit transaction.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
        .await?;
    admin.batch_execute(&format!("CREATE DATABASE {building}")).await?;
    strathon_schema::migrate::run_pending(&db_url(&building)).await?;
    {
        let mut conn = AsyncPgConnection::establish(&db_url(&building)).await?;
        let now = chrono::Utc::now();
        strathon_schema::partitions::ensure(&mut conn, &strathon_schema::partitions::wanted_months(now)).await?;
        strathon_schema::partitions::ensure_audit(&mut conn, &strathon_schema::partitions::audit_months(now)).await?;
    }
    admin
        .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
        .await?;
    Ok(name)
}

/// A database of the test's own, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A clone of the migrated template (schema, partitions, nothing else).
    pub async fn migrated() -> TestDb {
        Self::create(true)
            .await
            .unwrap_or_else(|e| panic!("creating a migrated test database: {e:?}"))
    }

    /// An empty database: no schema at all.
    pub async fn empty() -> TestDb {
        Self::create(false)
            .await
            .unwrap_or_else(|e| panic!("creating an empty test database: {e:?}"))
    }

    /// A name only: the database does not exist yet (for `strathon dev`).
    pub fn unborn() -> TestDb {
        let name = format!("strathon_test_{}", Uuid::new_v4().simple());
        TestDb {
            url: db_url(&name),
            name,
        }
    }

    async fn create(from_template: bool) -> anyhow::Result<TestDb> {
        let db = Self::unborn();
        let admin = admin().await?;
        admin.execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK]).await?;
        let result = async {
            if from_template {
                let template = ensure_template(&admin).await?;
                admin
                    .batch_execute(&format!("CREATE DATABASE {} TEMPLATE {template}", db.name))
                    .await?;
            } else {
                admin.batch_execute(&format!("CREATE DATABASE {}", db.name)).await?;
            }
            anyhow::Ok(())
        }
        .await;
        admin
            .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
            .await?;
        result?;
        Ok(db)
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connecting to the test database")
    }

    /// A plain SQL client for fixtures and assertions.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// Creates an API key for `project` with exactly `scopes`; returns the raw key.
    pub async fn key(&self, project: Uuid, scopes: &[&str]) -> String {
        // A migrated database has no projects until a server boots; tests
        // that seed keys before starting one need the default project now.
        strathon_schema::projects::ensure_default(&mut self.conn().await)
            .await
            .expect("default project");
        let minted = strathon_schema::api_keys::mint();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let key = strathon_schema::api_keys::NewKey {
            id: None,
            project_id: project,
            name: "test",
            scopes: &scopes,
            expires_at: None,
        };
        strathon_schema::api_keys::insert(&mut self.conn().await, key, &minted)
            .await
            .expect("inserting a test key");
        minted.raw
    }

    /// Creates a project (with settings) and returns its id.
    pub async fn project(&self, slug: &str) -> Uuid {
        let mut conn = self.conn().await;
        strathon_schema::projects::ensure_default(&mut conn)
            .await
            .expect("default org");
        strathon_schema::projects::create(&mut conn, strathon_schema::projects::DEFAULT_ORG_ID, slug, slug)
            .await
            .expect("creating a test project")
            .id
    }

    pub async fn scalar_i64(&self, query: &str) -> i64 {
        let row = self
            .sql()
            .await
            .query_one(query, &[])
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        row.get::<_, i64>(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; use a private one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = admin().await.ok()?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("STRATHON_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let path = target.join("debug").join("strathon");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p strathon-server` first (tests/run does)",
        path.display()
    );
    path
}

const AUTO_PORT: &str = "127.0.0.1:auto";

/// How to launch the receiver (or the dashboard) for one test.
pub struct Launch {
    command: String,
    envs: BTreeMap<String, String>,
    /// The variable that holds the listening address.
    bind_var: &'static str,
}

impl Launch {
    pub fn serve(db: &TestDb) -> Launch {
        Self::with_url("serve", &db.url)
    }

    pub fn with_url(command: &str, database_url: &str) -> Launch {
        let mut envs = BTreeMap::new();
        envs.insert("DATABASE_URL".into(), database_url.to_owned());
        // Resolved to a free port at each spawn, so one Launch can start replicas.
        envs.insert("STRATHON_BIND".into(), AUTO_PORT.into());
        envs.insert("STRATHON_LOG_FORMAT".into(), "json".into());
        envs.insert("STRATHON_LOG_LEVEL".into(), "INFO".into());
        // Tests send bursts; the limiter has tests of its own.
        envs.insert("STRATHON_RATE_LIMIT_ENABLED".into(), "false".into());
        Launch {
            command: command.into(),
            envs,
            bind_var: "STRATHON_BIND",
        }
    }

    /// `strathon dashboard` in front of the receiver at `api`.
    pub fn dashboard(api: &str) -> Launch {
        let mut envs = BTreeMap::new();
        envs.insert("STRATHON_DASHBOARD_API_URL".into(), api.to_owned());
        envs.insert("STRATHON_DASHBOARD_BIND".into(), AUTO_PORT.into());
        envs.insert("STRATHON_LOG_FORMAT".into(), "json".into());
        Launch {
            command: "dashboard".into(),
            envs,
            bind_var: "STRATHON_DASHBOARD_BIND",
        }
    }

    pub fn command(mut self, command: &str) -> Launch {
        self.command = command.into();
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Launch {
        self.envs.insert(key.into(), value.into());
        self
    }

    pub fn without(mut self, key: &str) -> Launch {
        self.envs.remove(key);
        self
    }

    fn spawn(&self) -> (Child, String) {
        let bind = match self.envs.get(self.bind_var).map(String::as_str) {
            Some(AUTO_PORT) | None => format!("127.0.0.1:{}", free_port()),
            Some(other) => other.to_owned(),
        };
        let child = Command::new(binary())
            .arg(&self.command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.envs)
            .env(self.bind_var, &bind)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning strathon");
        (child, bind)
    }

    /// Runs `strathon <command> <args…>` to completion: status, stdout, stderr lines.
    pub fn run_with(&self, args: &[&str], timeout: Duration) -> (i32, String, Vec<String>) {
        let envs: BTreeMap<&String, &String> = self.envs.iter().filter(|(_, v)| v.as_str() != AUTO_PORT).collect();
        let mut child = Command::new(binary())
            .arg(&self.command)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning strathon");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + timeout;
        let code = loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("strathon {} {args:?} did not exit within {timeout:?}", self.command);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let out = stdout.lock().unwrap().join("\n");
        let err = stderr.lock().unwrap().clone();
        (code, out, err)
    }

    /// Runs to completion (for commands that exit): status and stderr lines.
    pub fn run_to_exit(&self, timeout: Duration) -> (i32, Vec<String>) {
        let (mut child, _) = self.spawn();
        let stderr = collect(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                std::thread::sleep(Duration::from_millis(50));
                return (status.code().unwrap_or(-1), stderr.lock().unwrap().clone());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "strathon {} did not exit within {timeout:?}; stderr: {:?}",
                    self.command,
                    stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the receiver and waits until it listens.
    pub async fn start(&self) -> Server {
        self.try_start().await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub async fn try_start(&self) -> anyhow::Result<Server> {
        let (mut child, bind) = self.spawn();
        let lines = collect(child.stderr.take().expect("stderr"));
        let _stdout = collect(child.stdout.take().expect("stdout"));
        let server = Server {
            child,
            base: format!("http://{bind}"),
            lines,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut server = server;
        loop {
            if let Ok(resp) = server.get("/health").timeout(Duration::from_secs(2)).send().await {
                if resp.status() == 200 {
                    return Ok(server);
                }
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("strathon exited with {status} before listening: {:#?}", server.logs());
            }
            if Instant::now() > deadline {
                bail!("strathon did not listen within 60s: {:#?}", server.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// A running receiver; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
    pub http: reqwest::Client,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// GET with a bearer key; returns status and JSON body.
    pub async fn get_json(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut req = self.get(path);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// JSON log records (non-JSON lines such as the banner are skipped).
    pub fn records(&self) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The actions of the audit events in one category, newest first.
    pub async fn audit_actions(&self, key: &str, category: &str) -> Vec<String> {
        let path = format!("/v1/audit/events?filter=action_category eq \"{category}\"");
        let (status, body) = self.get_json(&path, Some(key)).await;
        assert_eq!(status, 200, "{body}");
        body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["action"].as_str().map(str::to_owned))
            .collect()
    }

    pub async fn wait_for(&self, what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !check().await {
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; logs: {:#?}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn ready(&self) -> (u16, Value) {
        self.get_json("/ready", None).await
    }

    pub async fn wait_ready(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.ready().await;
            if status == 200 {
                return body;
            }
            if Instant::now() > deadline {
                panic!("not ready after 20s: {body}; logs: {:#?}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one sample (`name{labels}`) in the exposition, if present.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        self.metrics().await.lines().find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok()).flatten()
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (a rolling update, `docker stop`, Ctrl-C's cousin).
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success(), "could not signal the receiver");
    }

    /// Waits for the process to exit; its exit code, or None after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Postgres cluster of the test's own, which the test may stop and start.
pub struct PrivatePostgres {
    dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PrivatePostgres {
    pub fn start() -> anyhow::Result<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")?
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .ok_or_else(|| anyhow!("no initdb under /usr/lib/postgresql"))?;
        let dir = std::env::temp_dir().join(format!("strathon-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        as_postgres(Command::new("chown").arg("postgres:postgres").arg(&dir), false)?;
        let pg = PrivatePostgres {
            port: free_port(),
            dir,
            bin,
        };
        as_postgres(
            Command::new(pg.bin.join("initdb"))
                .args(["-U", "postgres", "--auth=trust", "-D"])
                .arg(pg.dir.join("data")),
            true,
        )?;
        pg.up()?;
        Ok(pg)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn up(&self) -> anyhow::Result<()> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        as_postgres(
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-o", &opts, "-l"])
                .arg(self.dir.join("log"))
                .args(["-w", "start"]),
            true,
        )
    }

    pub fn down(&self) -> anyhow::Result<()> {
        as_postgres(
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]),
            true,
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(cmd: &mut Command, drop_privileges: bool) -> anyhow::Result<()> {
    let is_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false) || unsafe_is_root();
    let output = if drop_privileges && is_root {
        let program = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args)
            .output()?
    } else {
        cmd.output()?
    };
    if !output.status.success() {
        bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// HMAC-SHA256 in hex, as GitHub and Slack sign their requests.
pub fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    use ring::hmac;
    hex::encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), message).as_ref())
}

impl Server {
    /// POSTs an OTLP body; returns status, content type and body bytes.
    pub async fn post_traces(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        encoding: Option<&str>,
    ) -> (u16, String, Vec<u8>) {
        let mut req = self
            .http
            .post(self.url("/v1/traces"))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body);
        if let Some(enc) = encoding {
            req = req.header("content-encoding", enc);
        }
        let resp = req.send().await.expect("ingest request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (
            status,
            ctype,
            resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
    }

    /// A GitHub webhook as GitHub sends it, signed with `secret` when given
    /// (`X-Hub-Signature-256`): status and the parsed answer.
    pub async fn github_webhook(&self, event: &str, body: &Value, secret: Option<&str>) -> (u16, Value) {
        let raw = serde_json::to_vec(body).expect("JSON");
        let mut req = self
            .request(reqwest::Method::POST, "/v1/integrations/github/webhooks")
            .header("x-github-event", event)
            .header("x-github-delivery", Uuid::new_v4().to_string())
            .header("content-type", "application/json");
        if let Some(secret) = secret {
            req = req.header(
                "x-hub-signature-256",
                format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), &raw)),
            );
        }
        let resp = req.body(raw).send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The `data` array of a list endpoint, asserting 200.
    pub async fn list(&self, path: &str, key: &str) -> Vec<Value> {
        let (status, body) = self.get_json(path, Some(key)).await;
        assert_eq!(status, 200, "{path}: {body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }
}

impl Server {
    /// Any method with a bearer key and an optional JSON body: status and
    /// the parsed body (`Null` when there is none).
    pub async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.request(method, path).bearer_auth(key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, key, Some(body)).await
    }

    pub async fn is_healthy(&self) -> bool {
        self.get_json("/health", None).await.0 == 200
    }
}

/// Polls `read` until it holds at least `n` items (what a fake peer such as
/// a webhook endpoint or a mailbox has received), failing after `timeout`.
pub async fn collected<T: std::fmt::Debug>(
    what: &str,
    n: usize,
    timeout: Duration,
    read: impl Fn() -> Vec<T>,
) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = read();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} {what} within {timeout:?}, got {}: {got:#?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
