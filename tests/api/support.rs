//! The test harness: a real server on an ephemeral port over a real database —
//! a fresh SQLite file, or a fresh PostgreSQL database cloned from a migrated
//! template — driven with reqwest.

use actix_web::{web, HttpServer};
use diesel::prelude::*;
use diesel::PgConnection;
use ordo_api::{ApiConfig, AppState};
use ordo_db::{Db, DbConfig, DbConnection, Stats};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const ISSUER: &str = "ordo";
pub const AUDIENCE: &str = "ordo-api";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn enabled(kind: Kind) -> bool {
    let list = std::env::var("ORDO_TEST_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let name = match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    list.split(',').any(|b| b.trim() == name)
}

fn pg_base() -> String {
    std::env::var("ORDO_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The URL of one test database. No TLS to the local server: libpq then never
/// initialises OpenSSL, whose exit-time cleanup could race server worker threads
/// still closing connections when the test process ends (a rare `free()` abort).
fn pg_url(db: &str) -> String {
    format!("{}/{db}?sslmode=disable", pg_base())
}

fn migrations_fingerprint() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut entries: Vec<_> = walk(&dir);
    entries.sort();
    for p in entries {
        // Relative names: a checkout elsewhere (CI) shares the template.
        p.strip_prefix(&dir).unwrap_or(&p).to_string_lossy().hash(&mut h);
        std::fs::read(&p).unwrap_or_default().hash(&mut h);
    }
    format!("{:x}", h.finish())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Creates (once, under an advisory lock) a migrated template and clones it.
fn pg_database() -> Option<String> {
    let base = pg_base();
    let mut admin = match PgConnection::establish(&pg_url("postgres")) {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL at {base} is unreachable and CI=true: {e}");
            }
            eprintln!("SKIPPED: PostgreSQL at {base} unreachable ({e}); set ORDO_TEST_BACKENDS=sqlite to silence");
            return None;
        }
    };
    let template = format!("ordo_tpl_{}", migrations_fingerprint());
    diesel::sql_query("SELECT pg_advisory_lock(724242)").execute(&mut admin).expect("advisory lock");
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let exists = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{template}'"))
        .get_result::<N>(&mut admin)
        .expect("query pg_database")
        .n
        > 0;
    if !exists {
        // Templates of older migration sets are of no use any more.
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            datname: String,
        }
        let stale = diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'ordo_tpl_%'")
            .load::<Name>(&mut admin)
            .unwrap_or_default();
        for old in stale {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", old.datname)).execute(&mut admin);
        }
        diesel::sql_query(format!("CREATE DATABASE {template}")).execute(&mut admin).expect("create template");
        let db = Db::open(&DbConfig::parse(&pg_url(&template), 1).unwrap()).expect("open template");
        db.migrate().expect("migrate template");
        drop(db);
    }
    let name = format!("ordo_t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let mut tries = 0;
    loop {
        match diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin) {
            Ok(_) => break,
            Err(e) if tries < 20 => {
                tries += 1;
                eprintln!("retrying CREATE DATABASE: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("cannot create test database: {e}"),
        }
    }
    diesel::sql_query("SELECT pg_advisory_unlock(724242)").execute(&mut admin).expect("unlock");
    Some(name)
}

/// A fresh, empty PostgreSQL database (no template: the server migrates it), for
/// tests that start `ordo` processes. None when PostgreSQL is disabled or, outside
/// CI, unreachable.
pub fn pg_empty_database() -> Option<String> {
    if !enabled(Kind::Postgres) {
        return None;
    }
    let mut admin = match PgConnection::establish(&pg_url("postgres")) {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is unreachable and CI=true: {e}");
            }
            return None;
        }
    };
    let name = format!("ordo_p_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create database");
    Some(name)
}

pub fn pg_drop_database(name: &str) {
    if let Ok(mut admin) = PgConnection::establish(&pg_url("postgres")) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
    }
}

pub fn pg_database_url(name: &str) -> String {
    pg_url(name)
}

/// A fresh SQLite file path for a process test.
pub fn sqlite_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("ordo-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("p_{}_{}.db", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst)))
}

pub fn enabled_backend(kind: Kind) -> bool {
    enabled(kind)
}

/// The real `ordo` binary serving one database on a free port.
pub struct Server {
    pub base: String,
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl Server {
    pub fn spawn(database_url: &str) -> Server {
        Self::spawn_with(database_url, &[])
    }

    /// A process with more settings in its environment. `ORDO_SERVER_BIN` runs another
    /// build of the binary (`make soak`: the release one).
    pub fn spawn_with(database_url: &str, env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::env::temp_dir().join("ordo-tests").join(format!(
            "server_{}_{}.log",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let out = std::fs::File::create(&log).unwrap();
        let bin = std::env::var("ORDO_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ordo").to_string());
        let child = std::process::Command::new(bin)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("ORDO_DATABASE_URL", database_url)
            .env("ORDO_JWT_SECRET", SECRET)
            .env("ORDO_ADMIN_USER", "root")
            .env("ORDO_ADMIN_PASSWORD", "root-password")
            .env("ORDO_WORKERS", "2")
            .env("ORDO_LOG", "warn")
            .env("ORDO_ATTACHMENTS_DIR", std::env::temp_dir().join("ordo-tests").join("process-files"))
            .envs(env.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start ordo");
        Server { base: format!("http://127.0.0.1:{port}"), child, log }
    }

    /// Waits until `/readyz` says ready (the process listens before it has migrated);
    /// panics with the server log if the process exits or does not come up.
    pub async fn wait_up(&mut self) {
        let client = crate::support::http_client();
        for _ in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ordo exited with {status}: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            if client.get(format!("{}/readyz", self.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("ordo did not come up: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut off.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub struct TestApp {
    /// Where this app stores attachment files.
    pub files_dir: std::path::PathBuf,
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    handle: actix_web::dev::ServerHandle,
    cleanup: Cleanup,
    pub admin_token: String,
}

enum Cleanup {
    File(std::path::PathBuf),
    Pg(String),
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// The body of a 2xx answer (panics with the answer otherwise).
pub fn ok(r: Resp) -> Value {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    r.body
}

/// The `id` of a 2xx answer.
pub fn id(r: Resp) -> i64 {
    ok(r)["id"].as_i64().unwrap()
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    /// The version part of the `ETag` (`"3-9f86d081"` → 3).
    pub fn etag_version(&self) -> Option<i64> {
        self.header("etag")?.trim_matches('"').split('-').next()?.parse().ok()
    }
    pub fn statements(&self) -> u64 {
        self.header("x-ordo-db-statements").and_then(|v| v.parse().ok()).expect("debug header present")
    }
    /// Asserts a problem+json answer with this status and code.
    pub fn problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"), "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        self
    }
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
}

/// The production defaults without rate limits (tests send bursts no client would),
/// and revocations polled hourly: one process per test revokes in-process, which is
/// seen at once, and statement counts do not depend on when a poll falls.
pub fn test_security() -> ordo_api::limits::SecurityConfig {
    ordo_api::limits::SecurityConfig {
        token_per_ip: 0,
        api_per_principal: 0,
        revocation_poll: std::time::Duration::from_secs(3600),
        ..Default::default()
    }
}

impl TestApp {
    /// None when the backend is disabled or (outside CI) unreachable.
    pub async fn start(kind: Kind) -> Option<TestApp> {
        Self::start_with(kind, false, vec!["http://allowed.test".into()], test_security(), None).await
    }

    /// Like `start`, with these rate limits and lockout settings.
    pub async fn start_with_security(kind: Kind, security: ordo_api::limits::SecurityConfig) -> Option<TestApp> {
        Self::start_with(kind, false, vec![], security, None).await
    }

    /// Like `start`, also accepting this identity provider's tokens.
    pub async fn start_with_oidc(kind: Kind, oidc: ordo_api::oidc::OidcConfig) -> Option<TestApp> {
        Self::start_with(kind, false, vec![], test_security(), Some(oidc)).await
    }

    /// Like `start`, with these browser origins allowed (CORS).
    pub async fn start_with_origins(kind: Kind, origins: Vec<String>) -> Option<TestApp> {
        Self::start_with(kind, false, origins, test_security(), None).await
    }

    /// Like `start`, but the database gets the `--demo` data set instead of a bare admin.
    pub async fn start_demo(kind: Kind) -> Option<TestApp> {
        Self::start_with(kind, true, vec![], test_security(), None).await
    }

    async fn start_with(
        kind: Kind,
        demo: bool,
        cors_origins: Vec<String>,
        security: ordo_api::limits::SecurityConfig,
        oidc: Option<ordo_api::oidc::OidcConfig>,
    ) -> Option<TestApp> {
        if !enabled(kind) {
            return None;
        }
        // `ORDO_TEST_LOG=error cargo test ...` shows the server log (e.g. a 500's cause).
        if let Ok(filter) = std::env::var("ORDO_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let (url, cleanup) = match kind {
            Kind::Sqlite => {
                let dir = std::env::temp_dir().join("ordo-tests");
                std::fs::create_dir_all(&dir).unwrap();
                let file = dir.join(format!("t_{}_{}.db", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst)));
                let _ = std::fs::remove_file(&file);
                (format!("sqlite://{}", file.display()), Cleanup::File(file))
            }
            Kind::Postgres => {
                let name = web::block(pg_database).await.unwrap()?;
                (pg_url(&name), Cleanup::Pg(name))
            }
        };
        let db = Db::open(&DbConfig::parse(&url, 4).unwrap()).expect("open db");
        db.migrate().expect("migrate");
        if demo {
            assert!(ordo_api::demo::load(&db).expect("demo data"), "demo data loads into an empty database");
            assert!(!ordo_api::demo::load(&db).expect("demo data again"), "and only once");
        }
        ordo_api::demo::ensure_admin(&db, "root", "root-password").expect("admin");
        let files_dir = std::env::temp_dir().join("ordo-tests").join(format!(
            "files_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let state = web::Data::new(AppState::new(
            db.clone(),
            ApiConfig {
                jwt_secret: SECRET.as_bytes().to_vec(),
                jwt_issuer: ISSUER.into(),
                jwt_audience: AUDIENCE.into(),
                access_token_ttl: 600,
                refresh_token_ttl: 3600,
                cors_origins,
                debug_headers: true,
                base_currency: ordo_core::Currency::from_code("EUR").unwrap(),
                attachments_dir: files_dir.clone(),
                attachment_max_bytes: 64 * 1024,
                // Receivers in tests listen on 127.0.0.1; retries are due at once.
                webhooks: ordo_api::webhooks::WebhookConfig {
                    allow_private: true,
                    retry_base_seconds: 0,
                    timeout: std::time::Duration::from_secs(2),
                },
                // Mail goes to the process's test SMTP receiver; retries are due at once.
                smtp: Some(ordo_api::mail::SmtpConfig {
                    host: "127.0.0.1".into(),
                    port: smtp_receiver().0,
                    tls: ordo_api::mail::SmtpTls::None,
                    user: None,
                    password: None,
                    from: "Ordo Test <billing@ordo.test>".into(),
                    timeout: std::time::Duration::from_secs(5),
                    retry_base_seconds: 0,
                }),
                security,
                oidc,
            },
        ));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(move || ordo_api::app(state.clone()))
            .workers(2)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let mut app = TestApp {
            files_dir,
            base: format!("http://{addr}"),
            client: crate::support::http_client(),
            db,
            handle,
            cleanup,
            admin_token: String::new(),
        };
        app.admin_token =
            if demo { app.login("admin", "admin-demo").await } else { app.login("root", "root-password").await };
        Some(app)
    }

    pub async fn login(&self, user: &str, password: &str) -> String {
        let r = self
            .client
            .post(format!("{}/api/v1/auth/token", self.base))
            .form(&[("grant_type", "password"), ("username", user), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login {user}");
        let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
        // The process reads a principal's token generation on its first request
        // (ordo_db::tokens): done here, so statement counts in tests are the work's own.
        assert_eq!(self.get("/api/v1/me", &token).await.status, 200);
        token
    }

    /// Creates a user with these roles through the API and returns (id, token).
    pub async fn user(&self, name: &str, roles: &[&str]) -> (i64, String) {
        let r = self
            .call(
                Method::POST,
                "/api/v1/users",
                &self.admin_token,
                Some(serde_json::json!({"username": name, "display_name": name, "password": "password-123", "roles": roles})),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (r.body["id"].as_i64().unwrap(), self.login(name, "password-123").await)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.client.request(method, format!("{}{path}", self.base));
        if !token.is_empty() {
            rb = rb.bearer_auth(token);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Self::finish(rb).await
    }

    pub async fn raw(&self, method: Method, path: &str, token: &str, content_type: &str, body: &str) -> Resp {
        let rb = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_string());
        Self::finish(rb).await
    }

    async fn finish(rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Resp { status, headers, body }
    }

    /// A raw body with its content type and extra headers (file uploads).
    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_string());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        Self::finish(rb).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, token, None, &[]).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Some(body), &[]).await
    }
    pub async fn put_json(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, token, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, token, None, &[]).await
    }

    /// A second handle on this test's database, as another Ordo process would open it:
    /// its own pools and its own per-process caches.
    pub fn other_process_db(&self) -> Db {
        let url = match &self.cleanup {
            Cleanup::File(f) => format!("sqlite://{}", f.display()),
            Cleanup::Pg(name) => pg_url(name),
        };
        Db::open(&DbConfig::parse(&url, 1).unwrap()).expect("open db")
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.cleanup, Cleanup::File(_))
    }

    /// The SQLite file this test's app runs on (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.cleanup {
            Cleanup::File(f) => Some(f),
            Cleanup::Pg(_) => None,
        }
    }

    /// Runs a closure on a database connection (for assertions on what was written).
    pub fn with_db<T>(&self, f: impl FnOnce(&mut DbConnection) -> T) -> T {
        self.db.read(&Stats::default(), |c| Ok(f(c))).unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        use ordo_db::schema::*;
        self.with_db(|c| match table {
            "customers" => customers::table.count().get_result(c),
            "contacts" => contacts::table.count().get_result(c),
            "items" => items::table.count().get_result(c),
            "item_groups" => item_groups::table.count().get_result(c),
            "audit_log" => audit_log::table.count().get_result(c),
            "users" => users::table.count().get_result(c),
            "idempotency_keys" => idempotency_keys::table.count().get_result(c),
            "imports" => imports::table.count().get_result(c),
            "tickets" => tickets::table.count().get_result(c),
            "sla_policies" => sla_policies::table.count().get_result(c),
            other => panic!("unknown table {other}"),
        })
        .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
        match &self.cleanup {
            Cleanup::File(f) => {
                let _ = std::fs::remove_dir_all(&self.files_dir);
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
                }
            }
            Cleanup::Pg(name) => {
                let _ = std::fs::remove_dir_all(&self.files_dir);
                if let Ok(mut admin) = PgConnection::establish(&pg_url("postgres")) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
                }
            }
        }
    }
}

/// Declares each named `async fn(TestApp)` as two tests on the demo data, one per backend.
#[macro_export]
macro_rules! on_demo {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                if let Some(app) = $crate::support::TestApp::start_demo($crate::support::Kind::Sqlite).await {
                    super::$name(app).await;
                }
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::support::TestApp::start_demo($crate::support::Kind::Postgres).await {
                    super::$name(app).await;
                }
            }
        }
    )*};
}

/// Declares each named `async fn(TestApp)` as two tests, one per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    if let Some(app) = $crate::support::TestApp::start($crate::support::Kind::Sqlite).await {
                        super::$name(app).await;
                    }
                }
                #[actix_web::test]
                async fn postgres() {
                    if let Some(app) = $crate::support::TestApp::start($crate::support::Kind::Postgres).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Declares each named `async fn(Kind)` as two tests, one per backend: for tests that
/// start their own app or processes.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::support::Kind::Sqlite).await;
                }
                #[actix_web::test]
                async fn postgres() {
                    super::$name($crate::support::Kind::Postgres).await;
                }
            }
        )*
    };
}

/// An HTTP client for tests. reqwest is built without a default TLS provider (the
/// workspace installs ring's), so every client is made after installing it.
/// Idle pooled connections are dropped before the server's keep-alive (5 s) closes
/// them: a test that pauses between requests (a PDF read by Python, a first install of
/// the test tools) must not send its next request into a connection being closed.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2)).build().expect("client")
}

impl TestApp {
    /// GET with headers, the body as bytes (PDFs and other binary downloads).
    /// A multipart attachment upload: `fields` (e.g. `kind`) and the file.
    pub async fn attach(&self, path: &str, token: &str, fields: &[(&str, &str)], name: &str, bytes: &[u8]) -> Resp {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        form = form.part("file", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()));
        Self::finish(self.client.post(format!("{}{path}", self.base)).bearer_auth(token).multipart(form)).await
    }

    pub async fn get_bytes(&self, path: &str, token: &str, accept: &str) -> (StatusCode, String, Vec<u8>) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Accept", accept)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, ct, r.bytes().await.unwrap().to_vec())
    }
}

/// The Python of the test tools (scripts/test-requirements.txt), installed on first use
/// by scripts/pytools.sh.
pub fn pytools() -> std::path::PathBuf {
    static PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            let out = std::process::Command::new(root.join("scripts/pytools.sh")).output().expect("scripts/pytools.sh");
            assert!(out.status.success(), "scripts/pytools.sh: {}", String::from_utf8_lossy(&out.stderr));
            std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        })
        .clone()
}

/// Runs a script of scripts/ with the test tools' Python; its exit status and stdout.
pub fn run_pyscript(script: &str, args: &[&std::path::Path]) -> (bool, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(pytools())
        .arg(root.join("scripts").join(script))
        .args(args)
        .output()
        .expect("python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty() || out.status.success(), "{script}: {stderr}");
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

/// The text of each page of a PDF, as a PDF text extractor (pypdf) reads it.
pub fn pdf_pages(pdf: &[u8]) -> Vec<String> {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let dir = std::env::temp_dir().join(format!("ordo-pdf-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let (ok, out) = run_pyscript("pdf-text.py", &[&file]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "pdf-text.py failed: {out}");
    serde_json::from_str(&out).expect("pdf-text.py prints a JSON array")
}

/// The number of images on each page of a PDF (pypdf).
pub fn pdf_images(pdf: &[u8]) -> Vec<usize> {
    let dir = std::env::temp_dir().join(format!("ordo-pdf-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let (ok, out) = run_pyscript("pdf-text.py", &[file.as_path(), std::path::Path::new("--images")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "pdf-text.py failed: {out}");
    serde_json::from_str(&out).expect("pdf-text.py prints a JSON array")
}

/// A name unique within the machine, for temporary files.
pub fn uuid_like() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    )
}

/// A message the test SMTP receiver accepted: envelope recipients and the raw message.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub rcpt: Vec<String>,
    pub data: String,
}

/// A small SMTP server on 127.0.0.1 for the whole test process (every TestApp sends
/// through it). Recipients at `@fail-temp.test` get `451` (try again later), at
/// `@fail-perm.test` `550` (refused for good); everything else is accepted and kept.
pub fn smtp_receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<ReceivedMail>>>) {
    use std::io::{BufRead, BufReader, Write};
    type Inbox = std::sync::Arc<std::sync::Mutex<Vec<ReceivedMail>>>;
    static RECEIVER: std::sync::OnceLock<(u16, Inbox)> = std::sync::OnceLock::new();
    RECEIVER
        .get_or_init(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let inbox: Inbox = Default::default();
            let kept = inbox.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let kept = kept.clone();
                    std::thread::spawn(move || {
                        let mut out = stream.try_clone().unwrap();
                        let mut reader = BufReader::new(stream);
                        let mut say = |s: &str| out.write_all(format!("{s}\r\n").as_bytes());
                        let _ = say("220 test.local ESMTP ready");
                        let mut rcpt = vec![];
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let cmd = line.trim_end().to_string();
                            let upper = cmd.to_ascii_uppercase();
                            let r = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                                say("250-test.local\r\n250-8BITMIME\r\n250 SMTPUTF8")
                            } else if upper.starts_with("MAIL FROM") {
                                rcpt.clear();
                                say("250 2.1.0 sender ok")
                            } else if upper.starts_with("RCPT TO") {
                                let addr =
                                    cmd[8..].trim().trim_start_matches(':').trim().trim_matches(['<', '>']).to_string();
                                if addr.ends_with("@fail-temp.test") {
                                    say("451 4.3.0 mailbox busy, try again later")
                                } else if addr.ends_with("@fail-perm.test") {
                                    say("550 5.1.1 no such user here")
                                } else {
                                    rcpt.push(addr);
                                    say("250 2.1.5 recipient ok")
                                }
                            } else if upper == "DATA" {
                                let _ = say("354 end with <CRLF>.<CRLF>");
                                let mut data = String::new();
                                loop {
                                    line.clear();
                                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                        return;
                                    }
                                    if line == ".\r\n" {
                                        break;
                                    }
                                    data.push_str(
                                        line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line),
                                    );
                                }
                                kept.lock().unwrap().push(ReceivedMail { rcpt: rcpt.clone(), data });
                                say("250 2.0.0 queued as 42")
                            } else if upper == "QUIT" {
                                let _ = say("221 2.0.0 bye");
                                return;
                            } else {
                                say("250 ok")
                            };
                            if r.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            (port, inbox)
        })
        .clone()
}
