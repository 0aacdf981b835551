//! Token revocation without a statement per request (issue 17).
//!
//! Every access token carries its principal's `token_generation` at issue. Revoking
//! (deactivation, new roles or password, a revoked API client, logout) moves the
//! principal's generation on and sets `auth_generation` to a new random value in the
//! same transaction ([`revoked`]). A process keeps the generations it has read, and
//! trusts them while `auth_generation` is the value they were read with:
//!
//! - in the process that revoked, the copy is dropped when the transaction commits,
//!   so the very next request sees the change;
//! - another process reads `auth_generation` again when its last reading is older than
//!   the poll interval (250 ms by default), on whichever request comes first, in the
//!   same statement that loads that request's principal; a new value drops every
//!   copy. So a revocation reaches every process within the interval, and a request
//!   costs no statement unless its principal is new to the process or the interval
//!   has passed.
//!
//! Why random and not a counter: see [`crate::refcache`] (a rolled-back revocation must
//! not leave a value a later one could set again).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable};
use ordo_core::{PrincipalKind, Result};

use crate::DbConnection;

type Key = (bool, i64);

fn key(kind: PrincipalKind, id: i64) -> Key {
    (kind == PrincipalKind::ApiClient, id)
}

/// A principal's generation as this process last read it: `None` when the principal
/// is deactivated, revoked or gone (no token of theirs is valid).
#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Moves on whenever copies are dropped; a load that started before keeps its
    /// answer to itself.
    epoch: u64,
    /// `auth_generation` as last read, and when.
    global: Option<(i64, Instant)>,
    known: HashMap<Key, Option<i64>>,
}

/// What the cache can say without the database.
pub enum Lookup {
    Known(Option<i64>),
    /// Load with [`state`], then [`TokenCache::store`] with this epoch.
    Unknown {
        epoch: u64,
    },
}

impl TokenCache {
    pub fn lookup(&self, kind: PrincipalKind, id: i64, poll: Duration) -> Lookup {
        let Ok(inner) = self.inner.lock() else { return Lookup::Unknown { epoch: u64::MAX } };
        let fresh = inner.global.is_some_and(|(_, at)| at.elapsed() < poll);
        match inner.known.get(&key(kind, id)) {
            Some(v) if fresh => Lookup::Known(*v),
            _ => Lookup::Unknown { epoch: inner.epoch },
        }
    }

    /// Keeps what [`state`] read, unless copies were dropped since the load began.
    pub fn store(&self, epoch: u64, kind: PrincipalKind, id: i64, read: State) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if inner.epoch != epoch {
            return;
        }
        if inner.global.map(|(g, _)| g) != Some(read.global) {
            inner.known.clear();
            inner.epoch += 1;
        }
        inner.global = Some((read.global, Instant::now()));
        inner.known.insert(key(kind, id), read.generation);
    }

    /// Drops every copy (this process revoked something and committed).
    pub(crate) fn invalidate(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.known.clear();
            inner.global = None;
            inner.epoch += 1;
        }
    }
}

/// One principal's generation and `auth_generation`, read in one statement.
#[derive(Debug, Clone, Copy)]
pub struct State {
    pub global: i64,
    pub generation: Option<i64>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    global: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    generation: Option<i64>,
    #[diesel(sql_type = Nullable<Bool>)]
    active: Option<bool>,
}

pub fn state(conn: &mut DbConnection, kind: PrincipalKind, id: i64) -> Result<State> {
    let sql = match kind {
        PrincipalKind::User => {
            "SELECT g.value AS global, p.token_generation AS generation, p.active AS active \
             FROM auth_generation g LEFT JOIN users p ON p.id = $1 WHERE g.id = 1"
        }
        PrincipalKind::ApiClient => {
            "SELECT g.value AS global, p.token_generation AS generation, p.active AS active \
             FROM auth_generation g LEFT JOIN api_clients p ON p.id = $1 WHERE g.id = 1"
        }
    };
    let sql = match conn {
        DbConnection::Pg(_) => sql.to_string(),
        DbConnection::Sqlite(_) => sql.replace("$1", "?"),
    };
    let row: Row = diesel::sql_query(sql).bind::<BigInt, _>(id).get_result(conn)?;
    Ok(State { global: row.global, generation: row.generation.filter(|_| row.active == Some(true)) })
}

/// Records, in the revoking transaction, that tokens were revoked: other processes
/// see `auth_generation` move, this one drops its copies when the transaction commits.
pub fn revoked(conn: &mut DbConnection) -> Result<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(match conn {
        DbConnection::Pg(_) => "UPDATE auth_generation SET value = (random() * 9.0e18)::BIGINT WHERE id = 1",
        DbConnection::Sqlite(_) => "UPDATE auth_generation SET value = random() WHERE id = 1",
    })?;
    crate::refcache::tokens_revoked();
    Ok(())
}
