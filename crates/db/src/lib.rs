//! ordo-db: one connection type over SQLite and PostgreSQL, the pools, the
//! transaction rule (every use case is one transaction), embedded migrations,
//! and the platform tables every domain writes to (audit, number series,
//! idempotency keys).

pub mod accounts;
pub mod audit;
pub mod conn;
pub mod crud;
pub mod events;
pub mod idempotency;
pub mod invariants;
pub mod jobs;
pub mod lock;
pub mod prepared;
pub mod refcache;
pub mod refs;
pub mod schema;
pub mod search;
pub mod series;
pub mod settings;
pub mod sql;
pub mod tokens;

pub use conn::{savepoint, Backend, Db, DbConfig, DbConnection, Stats};
pub use prepared::Prepared;
pub type DbBackend = <DbConnection as diesel::Connection>::Backend;
