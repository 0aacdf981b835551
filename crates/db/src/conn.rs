use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use ordo_core::{DomainError, Result};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// The advisory lock key that serialises migrations across processes.
pub const MIGRATION_LOCK: i64 = 0x006f_7264_6f6d_6967;

/// One connection type, two databases: queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Parsed `ORDO_DATABASE_URL`.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub backend: Backend,
    /// For SQLite the file path; for PostgreSQL the libpq URL.
    pub target: String,
    pub pool_size: u32,
    /// PostgreSQL `synchronous_commit` for Ordo's sessions; `None`: the server's
    /// setting (`on` unless the operator changed it).
    pub synchronous_commit: Option<String>,
}

impl DbConfig {
    /// `ORDO_PG_SYNCHRONOUS_COMMIT`: `off` (or `local`) trades the last moments of
    /// acknowledged commits on a server crash for commits that do not wait for the
    /// disk; the database stays consistent either way. Only an operator's explicit
    /// choice: nothing here weakens durability by default.
    pub fn with_synchronous_commit(mut self, v: Option<&str>) -> std::result::Result<DbConfig, String> {
        const VALUES: [&str; 5] = ["on", "off", "local", "remote_write", "remote_apply"];
        match v.map(str::trim).filter(|v| !v.is_empty()) {
            None => self.synchronous_commit = None,
            Some(v) if VALUES.contains(&v) => self.synchronous_commit = Some(v.to_string()),
            Some(v) => return Err(format!("ORDO_PG_SYNCHRONOUS_COMMIT: {v:?} is not one of {}", VALUES.join(", "))),
        }
        Ok(self)
    }
    pub fn parse(url: &str, pool_size: u32) -> std::result::Result<DbConfig, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path.contains(":memory:") || path.starts_with("file::memory") {
                return Err("ORDO_DATABASE_URL: an in-memory SQLite database cannot be shared by a pool; give a file path, like sqlite://ordo.db".into());
            }
            Ok(DbConfig { backend: Backend::Sqlite, target: path.to_string(), pool_size, synchronous_commit: None })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbConfig { backend: Backend::Postgres, target: url.to_string(), pool_size, synchronous_commit: None })
        } else {
            Err(format!("ORDO_DATABASE_URL must start with sqlite:// or postgres:// (got {url:?})"))
        }
    }
}

/// Counts SQL statements per request (the `X-Ordo-Db-Statements` debug header).
#[derive(Debug, Clone, Default)]
pub struct Stats(Arc<AtomicU64>);

impl Stats {
    pub fn statements(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counter(Arc<AtomicU64>);

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                self.0.fetch_add(1, Ordering::Relaxed);
                // `ORDO_LOG=ordo::sql=trace`: every statement with its bind values, and
                // its time, for profiling a request (free when the target is off).
                tracing::trace!(target: "ordo::sql", "{query}");
            }
            InstrumentationEvent::FinishQuery { error, .. } => {
                tracing::trace!(target: "ordo::sql", failed = error.is_some(), "done");
            }
            _ => {}
        }
    }
}

struct Manager {
    config: DbConfig,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> std::result::Result<DbConnection, Self::Error> {
        match self.config.backend {
            Backend::Postgres => {
                let mut c = PgConnection::establish(&self.config.target)?;
                if let Some(v) = &self.config.synchronous_commit {
                    // One of a fixed list of words (checked when the config was read).
                    c.batch_execute(&format!("SET synchronous_commit = {v}"))
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(DbConnection::Pg(c))
            }
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.config.target)?;
                // Per connection: wait for the writer instead of failing, enforce FKs,
                // and with WAL, NORMAL sync is durable enough and much faster. No
                // automatic checkpoints: the [`Checkpointer`] runs them beside the writer;
                // a log that grew in a burst is cut back to 16 MB when it starts over.
                c.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 16777216;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> std::result::Result<(), Self::Error> {
        conn.batch_execute("SELECT 1").map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

type Pool = r2d2::Pool<Manager>;

/// Copies SQLite's write-ahead log back into the database file from a thread of its
/// own. SQLite's automatic checkpoint runs inside the commit that crosses 1,000 log
/// pages, fsyncs included, while that commit still holds the one write lock: every
/// other writer waited for the disk (a quarter of the machine idle under an order load,
/// and a p99 many times the p50). A passive checkpoint on another connection takes no
/// write lock, so writers go on appending to the log while it copies and syncs.
///
/// The log file starts over only when a write begins with every frame copied back,
/// which under a steady load a checkpoint elsewhere never arranges: once the log is
/// long, the thread asks the writer to checkpoint itself after its next commit. That
/// copies only the few frames since the thread's round, and the write after it
/// starts the log afresh, so the file stays about the size SQLite's default allows.
struct Checkpointer {
    /// Dropped with the last [`Db`] clone: the thread sees the hang-up and ends.
    _stop: std::sync::mpsc::Sender<()>,
    /// Set by the thread when the log should start over; taken by the writer.
    restart: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(diesel::QueryableByName)]
struct WalCheckpoint {
    /// Frames in the log since it last started over.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Of those, the frames now in the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

impl Checkpointer {
    /// How often the log is copied back: at a few thousand commits a second this keeps
    /// the frames a writer's own checkpoint has left to copy to a few hundred.
    const EVERY: Duration = Duration::from_millis(100);
    /// Log length (pages) at which the log should start over: SQLite's own default.
    const RESTART_FRAMES: i32 = 1000;

    fn start(target: &str) -> std::result::Result<Checkpointer, String> {
        let mut c =
            SqliteConnection::establish(target).map_err(|e| format!("cannot open SQLite file {target}: {e}"))?;
        c.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;")
            .map_err(|e| format!("cannot open SQLite file: {e}"))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let restart = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wanted = restart.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::EVERY) {
                    match diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<WalCheckpoint>(&mut c) {
                        // Only after a round that copied everything, so the writer's own
                        // checkpoint has just the frames since (never a backlog).
                        Ok(r) if r.log >= Self::RESTART_FRAMES && r.checkpointed == r.log => {
                            wanted.store(true, Ordering::Relaxed)
                        }
                        Ok(_) => {}
                        // Busy (another process checkpointing): the next round retries.
                        Err(e) => tracing::debug!("checkpoint: {e}"),
                    }
                }
            })
            .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
        Ok(Checkpointer { _stop: stop, restart })
    }

    /// After a commit, on the writer: the checkpoint that lets the log start over, when
    /// the thread asked for one. Not counted among the request's statements.
    fn after_commit(&self, conn: &mut DbConnection) {
        if self.restart.swap(false, Ordering::Relaxed) {
            conn.set_instrumentation(Counter(Default::default()));
            if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                tracing::debug!("checkpoint: {e}");
            }
        }
    }
}

/// The database handle: a writer pool and a reader pool. On SQLite the writer
/// pool holds exactly one connection, so writes queue instead of fighting for the
/// lock; on PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    /// The SQLite file or the PostgreSQL URL.
    target: String,
    writer: Pool,
    reader: Pool,
    /// Reference data cached for this database (see [`crate::refcache`]).
    refs: Arc<crate::refcache::RefCache>,
    /// SQLite only: the log's checkpoints, off the writer's path.
    checkpointer: Option<Arc<Checkpointer>>,
}

impl Db {
    pub fn open(config: &DbConfig) -> std::result::Result<Db, String> {
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                .test_on_check_out(false)
                .connection_timeout(Duration::from_secs(10))
                .build(Manager { config: config.clone() })
                .map_err(|e| format!("cannot open database {}: {e}", redact(&config.target)))
        };
        match config.backend {
            Backend::Sqlite => {
                // WAL is a property of the file: set it once, before the pools open.
                let mut c = SqliteConnection::establish(&config.target)
                    .map_err(|e| format!("cannot open SQLite file {}: {e}", config.target))?;
                // Another process opening the same file may hold the lock for a moment,
                // and SQLite answers a journal-mode change with SQLITE_BUSY without calling
                // the busy handler when two processes switch at once: retry for a while.
                c.batch_execute("PRAGMA busy_timeout = 5000;").map_err(|e| format!("cannot open SQLite file: {e}"))?;
                let mut tries = 0;
                while let Err(e) = c.batch_execute("PRAGMA journal_mode = WAL;") {
                    tries += 1;
                    if tries > 100 || !e.to_string().contains("locked") && !e.to_string().contains("busy") {
                        return Err(format!("cannot enable WAL: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let writer = build(1)?;
                let reader = build(config.pool_size.max(1))?;
                Ok(Db {
                    backend: Backend::Sqlite,
                    target: config.target.clone(),
                    writer,
                    reader,
                    refs: Default::default(),
                    checkpointer: Some(Arc::new(Checkpointer::start(&config.target)?)),
                })
            }
            Backend::Postgres => {
                let pool = build(config.pool_size.max(1))?;
                Ok(Db {
                    backend: Backend::Postgres,
                    target: config.target.clone(),
                    writer: pool.clone(),
                    reader: pool,
                    refs: Default::default(),
                    checkpointer: None,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations. Several processes may start at once against one
    /// database: they migrate one after the other (a PostgreSQL advisory lock; on
    /// SQLite an exclusive lock on a file beside the database), and the later ones
    /// find nothing left to do.
    pub fn migrate(&self) -> std::result::Result<Vec<String>, String> {
        let mut conn = self.writer.get().map_err(|e| format!("database unavailable: {e}"))?;
        let names = |v: Vec<diesel::migration::MigrationVersion<'_>>| v.iter().map(|m| m.to_string()).collect();
        let applied = match &mut *conn {
            DbConnection::Pg(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .map_err(|e| format!("cannot take the migration lock: {e}"))?;
                let r = c.run_pending_migrations(PG_MIGRATIONS).map(names);
                let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
                r
            }
            DbConnection::Sqlite(c) => {
                let path = format!("{}.migrate-lock", self.target);
                let lock = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| format!("cannot open {path}: {e}"))?;
                lock.lock().map_err(|e| format!("cannot lock {path}: {e}"))?;
                let r = c.run_pending_migrations(SQLITE_MIGRATIONS).map(names);
                drop(lock);
                r
            }
        };
        applied.map_err(|e| format!("migration failed: {e}"))
    }

    fn checkout(pool: &Pool, stats: &Stats) -> Result<r2d2::PooledConnection<Manager>> {
        let mut conn = pool.get().map_err(|e| DomainError::Internal(format!("database unavailable: {e}")))?;
        conn.set_instrumentation(Counter(stats.0.clone()));
        Ok(conn)
    }

    /// The principals' token generations this process has read ([`crate::tokens`]).
    pub fn tokens(&self) -> &crate::tokens::TokenCache {
        &self.refs.tokens
    }

    /// Runs read-only work on a reader connection.
    pub fn read<T>(&self, stats: &Stats, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        let mut conn = Self::checkout(&self.reader, stats)?;
        crate::refcache::with(&self.refs, || f(&mut conn))
    }

    /// Runs `f` on the writer in a transaction that is always rolled back: a dry run
    /// meets every rule a real run would (references, uniqueness) and writes nothing.
    pub fn dry_run<T>(&self, stats: &Stats, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        let mut conn = Self::checkout(&self.writer, stats)?;
        let conn: &mut DbConnection = &mut conn;
        conn.batch_execute(match conn {
            DbConnection::Sqlite(_) => "BEGIN IMMEDIATE",
            DbConnection::Pg(_) => "BEGIN",
        })?;
        let out =
            crate::refcache::with(&self.refs, || catch_unwind(AssertUnwindSafe(|| crate::audit::buffered(conn, f))));
        let _ = conn.batch_execute("ROLLBACK");
        // A dry run reports nothing.
        crate::events::take_refusals();
        out.unwrap_or_else(|p| resume_unwind(p))
    }

    /// Runs one use case as one transaction on the writer: all or nothing.
    pub fn write<T>(&self, stats: &Stats, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
        let mut conn = Self::checkout(&self.writer, stats)?;
        let out = crate::refcache::with(&self.refs, || transaction(&mut conn, f));
        if let Some(c) = &self.checkpointer {
            c.after_commit(&mut conn);
        }
        out
    }

    /// Health probe for `/readyz`.
    pub fn ping(&self) -> Result<()> {
        let mut conn = self.reader.get().map_err(|e| DomainError::Internal(format!("database unavailable: {e}")))?;
        conn.batch_execute("SELECT 1").map_err(DomainError::from)
    }
}

/// `BEGIN IMMEDIATE` on SQLite takes the write lock up front, so a transaction never
/// fails half-way on lock upgrade; PostgreSQL uses a plain `BEGIN`. Driven by hand
/// because the multi-backend transaction manager cannot pick the SQLite variant.
pub fn transaction<T>(conn: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
    let begin = match conn {
        DbConnection::Sqlite(_) => "BEGIN IMMEDIATE",
        DbConnection::Pg(_) => "BEGIN",
    };
    conn.batch_execute(begin)?;
    crate::events::take_refusals();
    match catch_unwind(AssertUnwindSafe(|| crate::audit::buffered(conn, f))) {
        Ok(Ok(v)) => {
            crate::events::take_refusals();
            let committed = conn.batch_execute("COMMIT");
            crate::refcache::finish(committed.is_ok());
            match committed {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    Err(e.into())
                }
            }
        }
        Ok(Err(e)) => {
            crate::refcache::finish(false);
            conn.batch_execute("ROLLBACK")?;
            // Events about the refusal outlive its rollback.
            let refusals = crate::events::take_refusals();
            crate::events::write_refusals(conn, refusals);
            Err(e)
        }
        Err(panic) => {
            crate::refcache::finish(false);
            let _ = conn.batch_execute("ROLLBACK");
            resume_unwind(panic)
        }
    }
}

/// Runs `f` inside a savepoint of the current transaction: on error its changes are
/// rolled back, and so is what the transaction holds for its commit (audit entries,
/// number blocks), so the transaction can go on.
pub fn savepoint<T>(conn: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
    conn.batch_execute("SAVEPOINT ordo_step")?;
    let (audited, numbered) = (crate::audit::mark(), crate::refcache::pending_mark());
    match f(conn) {
        Ok(v) => {
            conn.batch_execute("RELEASE SAVEPOINT ordo_step")?;
            Ok(v)
        }
        Err(e) => {
            conn.batch_execute("ROLLBACK TO SAVEPOINT ordo_step; RELEASE SAVEPOINT ordo_step")?;
            crate::audit::rollback_to(audited);
            crate::refcache::pending_rollback_to(numbered);
            Err(e)
        }
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}
