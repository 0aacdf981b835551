//! The `ordo` command: serve the API, migrate, load demo data, print the OpenAPI document.

use actix_web::{web, HttpServer};
use clap::{Args, Parser, Subcommand};
use ordo_api::{ApiConfig, AppState};
use ordo_db::{Db, DbConfig};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

#[derive(Parser)]
#[command(name = "ordo", version, about = "Ordo: headless sales & order management server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP server (migrates the database first unless --no-migrate).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Load the demo data set into an empty database.
    DemoData(DbArgs),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// sqlite://FILE or postgres://USER@HOST/DB
    #[arg(long, env = "ORDO_DATABASE_URL", default_value = "sqlite://ordo.db")]
    database_url: String,
    /// Connections in the (reader) pool.
    #[arg(long, env = "ORDO_DB_POOL_SIZE", default_value_t = 8)]
    db_pool_size: u32,
    /// PostgreSQL synchronous_commit for Ordo's connections (on, off, local,
    /// remote_write, remote_apply); unset: the server's setting.
    #[arg(long, env = "ORDO_PG_SYNCHRONOUS_COMMIT")]
    pg_synchronous_commit: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "ORDO_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// HS256 signing secret for access tokens (required unless --demo).
    #[arg(long, env = "ORDO_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    #[arg(long, env = "ORDO_JWT_ISSUER", default_value = "ordo")]
    jwt_issuer: String,
    #[arg(long, env = "ORDO_JWT_AUDIENCE", default_value = "ordo-api")]
    jwt_audience: String,
    /// Access token lifetime in seconds.
    #[arg(long, env = "ORDO_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    access_token_ttl: i64,
    /// Refresh token lifetime in seconds (each use rotates it).
    #[arg(long, env = "ORDO_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    refresh_token_ttl: i64,
    /// Browser origins allowed to call the API, comma-separated (e.g. https://app.example.com).
    #[arg(long, env = "ORDO_CORS_ORIGINS", default_value = "")]
    cors_origins: String,
    /// Create this admin user when the user table is empty.
    #[arg(long, env = "ORDO_ADMIN_USER")]
    admin_user: Option<String>,
    #[arg(long, env = "ORDO_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Add X-Ordo-Db-Statements to every response.
    #[arg(long, env = "ORDO_DEBUG_HEADERS", default_value = "0")]
    debug_headers: String,
    /// Load demo data into an empty database and allow a generated JWT secret.
    #[arg(long)]
    demo: bool,
    /// Do not apply migrations on start.
    #[arg(long)]
    no_migrate: bool,
    /// Company base currency (ISO 4217); quotes also show totals in it.
    #[arg(long, env = "ORDO_BASE_CURRENCY", default_value = "EUR")]
    base_currency: String,
    /// Directory for attachment files.
    #[arg(long, env = "ORDO_ATTACHMENTS_DIR", default_value = "./data/attachments")]
    attachments_dir: std::path::PathBuf,
    /// Largest attachment accepted, in bytes (larger: 413).
    #[arg(long, env = "ORDO_ATTACHMENT_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    attachment_max_bytes: usize,
    /// HTTP worker threads (default: number of cores).
    #[arg(long, env = "ORDO_WORKERS")]
    workers: Option<usize>,
    /// Allow webhook URLs on loopback and private networks (`1`/`true`).
    #[arg(long, env = "ORDO_WEBHOOK_ALLOW_PRIVATE", default_value = "0")]
    webhook_allow_private: String,
    /// Seconds before a failed webhook delivery's first retry (doubling each time, up to 6 h).
    #[arg(long, env = "ORDO_WEBHOOK_RETRY_SECONDS", default_value_t = 10)]
    webhook_retry_seconds: i64,
    /// Timeout of one webhook request, in seconds.
    #[arg(long, env = "ORDO_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10)]
    webhook_timeout_seconds: u64,
    /// SMTP server for mailing documents; unset: nothing is mailed.
    #[arg(long, env = "ORDO_SMTP_HOST")]
    smtp_host: Option<String>,
    /// Default 587 (starttls), 465 (tls), 25 (none).
    #[arg(long, env = "ORDO_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// `starttls` (required), `tls` (implicit, port 465) or `none` (a local relay).
    #[arg(long, env = "ORDO_SMTP_TLS", default_value = "starttls")]
    smtp_tls: String,
    #[arg(long, env = "ORDO_SMTP_USER")]
    smtp_user: Option<String>,
    #[arg(long, env = "ORDO_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// The sender of mailed documents (`Ordo <billing@example.com>`); required with a host.
    #[arg(long, env = "ORDO_SMTP_FROM")]
    smtp_from: Option<String>,
    /// Seconds before a refused message's first retry (doubling each time, up to 6 h).
    #[arg(long, env = "ORDO_SMTP_RETRY_SECONDS", default_value_t = 60)]
    smtp_retry_seconds: i64,
    /// Token requests a minute per client IP (0: unlimited).
    #[arg(long, env = "ORDO_RATE_LIMIT_TOKEN_PER_IP", default_value_t = 60)]
    rate_limit_token_per_ip: u32,
    /// API requests a minute per user or API client (0: unlimited).
    #[arg(long, env = "ORDO_RATE_LIMIT_PER_PRINCIPAL", default_value_t = 6000)]
    rate_limit_per_principal: u32,
    /// API requests a minute per client IP (0: unlimited).
    #[arg(long, env = "ORDO_RATE_LIMIT_PER_IP", default_value_t = 0)]
    rate_limit_per_ip: u32,
    /// Reverse proxies in front of Ordo that append to X-Forwarded-For (0: use the peer address).
    #[arg(long, env = "ORDO_TRUSTED_PROXY_HOPS", default_value_t = 0)]
    trusted_proxy_hops: usize,
    /// Wrong passwords in a row that lock a user (0: never).
    #[arg(long, env = "ORDO_LOGIN_MAX_FAILURES", default_value_t = 5)]
    login_max_failures: i32,
    /// Seconds a locked user must wait.
    #[arg(long, env = "ORDO_LOGIN_LOCKOUT_SECONDS", default_value_t = 900)]
    login_lockout_seconds: i64,
    /// How stale a process's knowledge of revoked tokens may be, in milliseconds.
    #[arg(long, env = "ORDO_REVOCATION_POLL_MS", default_value_t = 250)]
    revocation_poll_ms: u64,
    /// An OpenID Connect issuer whose RS256/ES256 access tokens are accepted (its `iss`).
    #[arg(long, env = "ORDO_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// The `aud` those tokens must carry (default: ORDO_JWT_AUDIENCE).
    #[arg(long, env = "ORDO_OIDC_AUDIENCE")]
    oidc_audience: Option<String>,
    /// The issuer's key set: an https:// URL (its jwks_uri) or a file.
    #[arg(long, env = "ORDO_OIDC_JWKS")]
    oidc_jwks: Option<String>,
    /// The claim naming the Ordo user (matched to usernames, then e-mail addresses).
    #[arg(long, env = "ORDO_OIDC_USER_CLAIM", default_value = "sub")]
    oidc_user_claim: String,
    /// A dotted path to the claim listing Ordo role names (e.g. realm_access.roles);
    /// unset: the user's roles in Ordo.
    #[arg(long, env = "ORDO_OIDC_ROLES_CLAIM")]
    oidc_roles_claim: Option<String>,
    /// On SIGTERM: seconds to keep answering 503 (so a load balancer takes the
    /// process out) before it stops listening.
    #[arg(long, env = "ORDO_DRAIN_SECONDS", default_value_t = 0)]
    drain_seconds: u64,
    /// On SIGTERM: seconds in-flight requests and jobs get to finish.
    #[arg(long, env = "ORDO_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    shutdown_timeout: u64,
}

/// The SMTP settings, when a host is configured.
fn smtp_config(args: &ServeArgs) -> Result<Option<ordo_api::mail::SmtpConfig>, String> {
    use ordo_api::mail::{SmtpConfig, SmtpTls};
    let Some(host) = args.smtp_host.clone().filter(|h| !h.trim().is_empty()) else { return Ok(None) };
    let (tls, port) = match args.smtp_tls.to_ascii_lowercase().as_str() {
        "starttls" => (SmtpTls::StartTls, 587),
        "tls" => (SmtpTls::Tls, 465),
        "none" => (SmtpTls::None, 25),
        other => return Err(format!("ORDO_SMTP_TLS: {other:?} is not starttls, tls or none")),
    };
    let from = args.smtp_from.clone().ok_or("ORDO_SMTP_FROM is required with ORDO_SMTP_HOST")?;
    ordo_api::mail::valid_sender(&from)?;
    Ok(Some(SmtpConfig {
        host,
        port: args.smtp_port.unwrap_or(port),
        tls,
        user: args.smtp_user.clone(),
        password: args.smtp_password.clone(),
        from,
        timeout: std::time::Duration::from_secs(30),
        retry_base_seconds: args.smtp_retry_seconds.max(0),
    }))
}

fn open_db(args: &DbArgs) -> Result<Db, String> {
    let cfg = DbConfig::parse(&args.database_url, args.db_pool_size)?
        .with_synchronous_commit(args.pg_synchronous_commit.as_deref())?;
    Db::open(&cfg)
}

fn migrate(db: &Db) -> Result<(), String> {
    for m in db.migrate()? {
        tracing::info!(migration = %m, "applied migration");
    }
    let n = ordo_api::after_migrate(db).map_err(|e| e.to_string())?;
    if n > 0 {
        tracing::info!(documents = n, "sales facts written for documents older than the facts table");
    }
    Ok(())
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let secret = match (&args.jwt_secret, args.demo) {
        (Some(s), _) if s.len() >= 32 => s.clone().into_bytes(),
        (Some(_), _) => return Err("ORDO_JWT_SECRET must be at least 32 characters".into()),
        (None, true) => {
            tracing::warn!("--demo without ORDO_JWT_SECRET: using a random secret; tokens die with this process");
            format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()).into_bytes()
        }
        (None, false) => {
            return Err(
                "ORDO_JWT_SECRET is not set: give a random secret of at least 32 characters (or run with --demo)"
                    .into(),
            )
        }
    };
    let base_currency = ordo_core::Currency::from_code(&args.base_currency)
        .ok_or_else(|| format!("ORDO_BASE_CURRENCY {:?} is not an ISO 4217 code", args.base_currency))?;
    let db = open_db(&args.db)?;
    let smtp = smtp_config(&args)?;
    let oidc = match (&args.oidc_issuer, &args.oidc_jwks) {
        (None, None) => None,
        (Some(issuer), Some(jwks)) => Some(ordo_api::oidc::OidcConfig {
            issuer: issuer.clone(),
            audience: args.oidc_audience.clone().unwrap_or_else(|| args.jwt_audience.clone()),
            jwks: ordo_api::oidc::JwksSource::parse(jwks),
            user_claim: args.oidc_user_claim.clone(),
            roles_claim: args.oidc_roles_claim.clone().filter(|c| !c.is_empty()),
            refresh_min_interval: std::time::Duration::from_secs(30),
        }),
        _ => return Err("ORDO_OIDC_ISSUER and ORDO_OIDC_JWKS go together".into()),
    };
    let state = web::Data::new(AppState::new(
        db.clone(),
        ApiConfig {
            jwt_secret: secret,
            jwt_issuer: args.jwt_issuer.clone(),
            jwt_audience: args.jwt_audience.clone(),
            access_token_ttl: args.access_token_ttl,
            refresh_token_ttl: args.refresh_token_ttl,
            cors_origins: args
                .cors_origins
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            debug_headers: truthy(&args.debug_headers),
            base_currency,
            attachments_dir: args.attachments_dir.clone(),
            webhooks: ordo_api::webhooks::WebhookConfig {
                allow_private: truthy(&args.webhook_allow_private),
                retry_base_seconds: args.webhook_retry_seconds.max(0),
                timeout: std::time::Duration::from_secs(args.webhook_timeout_seconds.clamp(1, 300)),
            },
            attachment_max_bytes: args.attachment_max_bytes,
            smtp,
            security: ordo_api::limits::SecurityConfig {
                token_per_ip: args.rate_limit_token_per_ip,
                api_per_principal: args.rate_limit_per_principal,
                api_per_ip: args.rate_limit_per_ip,
                trusted_proxy_hops: args.trusted_proxy_hops,
                login_max_failures: args.login_max_failures,
                login_lockout: time::Duration::seconds(args.login_lockout_seconds.max(1)),
                revocation_poll: std::time::Duration::from_millis(args.revocation_poll_ms),
            },
            oidc,
        },
    ));
    // Listen first and migrate after: a load balancer or orchestrator asking /readyz
    // during a long migration gets 503 `starting`, not a refused connection.
    state.starting.store(true, Ordering::SeqCst);
    let app_state = state.clone();
    let mut server = HttpServer::new(move || ordo_api::app(app_state.clone()));
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Database work runs on the blocking threads and waits for a pooled connection
    // anyway: more threads than connections only queue, and each one that allocates
    // keeps a malloc arena of its own (the bulk of the memory that stayed after a load).
    let blocking = (args.db.db_pool_size as usize).div_ceil(workers).max(2);
    server = server
        .workers(workers)
        .worker_max_blocking_threads(blocking)
        .shutdown_timeout(args.shutdown_timeout)
        // SIGTERM/SIGINT are ours (below): drain first, then stop gracefully.
        .disable_signals();
    let server = server.bind(&args.bind).map_err(|e| format!("cannot listen on {}: {e}", args.bind))?.run();
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);
    let (no_migrate, admin, demo) =
        (args.no_migrate, (args.admin_user.clone(), args.admin_password.clone()), args.demo);
    let prepared = actix_web::rt::task::spawn_blocking(move || -> Result<(), String> {
        if !no_migrate {
            migrate(&db)?;
        }
        if let (Some(u), Some(p)) = &admin {
            if ordo_api::demo::ensure_admin(&db, u, p).map_err(|e| e.to_string())? {
                tracing::info!(user = %u, "created the initial admin user");
            }
        }
        if demo && ordo_api::demo::load(&db).map_err(|e| e.to_string())? {
            tracing::info!("loaded demo data");
        }
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    if let Err(e) = prepared {
        handle.stop(false).await;
        return Err(e);
    }
    state.starting.store(false, Ordering::SeqCst);
    let jobs = ordo_api::jobs::spawn(state.clone());
    ordo_api::imports::spawn(state.clone());
    println!("Ordo listening on http://{}", args.bind);
    println!("  API docs:  http://{}/docs/", args.bind);
    println!("  OpenAPI:   http://{}/api/v1/openapi.json", args.bind);
    if args.demo {
        println!("  Demo logins (username / password):");
        for (u, p, r) in ordo_api::demo::LOGINS {
            println!("    {u:<8} / {p:<14} ({r})");
        }
    }
    let (drain, timeout) = (args.drain_seconds, args.shutdown_timeout);
    let stopper = actix_web::rt::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(signal, drain_seconds = drain, "shutting down: new requests get 503");
        state.draining.store(true, Ordering::SeqCst);
        // Meanwhile no new job runs; the one running (if any) finishes and gives its
        // lease back.
        futures_util::future::join(
            jobs.stop(std::time::Duration::from_secs(timeout)),
            actix_web::rt::time::sleep(std::time::Duration::from_secs(drain)),
        )
        .await;
        handle.stop(true).await;
    });
    let result = running.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string());
    stopper.abort();
    tracing::info!("stopped");
    result
}

/// SIGTERM (what orchestrators send) or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        std::future::pending::<()>().await;
        return "none";
    };
    // Bound first: a tail-expression temporary would outlive `term` and `int`.
    let which = match futures_util::future::select(Box::pin(term.recv()), Box::pin(int.recv())).await {
        futures_util::future::Either::Left(_) => "SIGTERM",
        futures_util::future::Either::Right(_) => "SIGINT",
    };
    which
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORDO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => actix_web::rt::System::new().block_on(serve(*args)),
        Command::Migrate(args) => open_db(&args).and_then(|db| migrate(&db)),
        Command::DemoData(args) => open_db(&args).and_then(|db| {
            migrate(&db)?;
            let loaded = ordo_api::demo::load(&db).map_err(|e| e.to_string())?;
            println!("{}", if loaded { "demo data loaded" } else { "database not empty: nothing loaded" });
            Ok(())
        }),
        Command::Openapi => {
            println!("{}", ordo_api::openapi::spec_json());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ordo: {e}");
            ExitCode::FAILURE
        }
    }
}
