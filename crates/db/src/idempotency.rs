//! `Idempotency-Key` bookkeeping. The key is claimed inside the use case's own
//! transaction, as its first statement: the claim commits together with the stored
//! response or not at all. A failed request, a dropped connection or a killed
//! process leaves nothing behind, so the client's retry with the same key runs at
//! once; a concurrent duplicate waits on the unique index until the first commits
//! and then replays its response.

use crate::schema::idempotency_keys as ik;
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{time_util, Result};

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<String>,
}

#[derive(Debug)]
pub enum Claim {
    /// First use of the key: the row id to store the response on.
    New(i64),
    Replay(StoredResponse),
    /// Same key, different request body.
    Mismatch,
}

#[derive(Insertable)]
#[diesel(table_name = ik)]
struct NewKey<'a> {
    principal: &'a str,
    idem_key: &'a str,
    request_hash: &'a str,
    created_at: time::PrimitiveDateTime,
}

type Row = (i64, String, Option<i32>, Option<String>, Option<String>, Option<String>);

/// Claims the key; call it first inside the use case's transaction.
pub fn claim(conn: &mut DbConnection, principal: &str, key: &str, request_hash: &str) -> Result<Claim> {
    let row = NewKey { principal, idem_key: key, request_hash, created_at: time_util::now() };
    // ON CONFLICT DO NOTHING waits for a concurrent inserter of the same key: it
    // inserts if that one rolled back and does nothing if it committed.
    let inserted: Option<i64> = match conn {
        DbConnection::Pg(c) => diesel::insert_into(ik::table)
            .values(&row)
            .on_conflict((ik::principal, ik::idem_key))
            .do_nothing()
            .returning(ik::id)
            .get_result(c)
            .optional()?,
        DbConnection::Sqlite(c) => {
            diesel::insert_or_ignore_into(ik::table).values(&row).returning(ik::id).get_result(c).optional()?
        }
    };
    if let Some(id) = inserted {
        return Ok(Claim::New(id));
    }
    for _ in 0..2 {
        let (id, hash, status, body, location, etag): Row = ik::table
            .filter(ik::principal.eq(principal))
            .filter(ik::idem_key.eq(key))
            .select((ik::id, ik::request_hash, ik::status, ik::response_body, ik::location, ik::etag))
            .first(conn)?;
        if hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        if let (Some(status), Some(body)) = (status, body) {
            return Ok(Claim::Replay(StoredResponse { status: status as u16, body, location, etag }));
        }
        // A committed claim without a response is what versions before this one left
        // when a process died mid-request: nobody owns it, so this request takes it
        // over. The conditional UPDATE makes one concurrent retry the owner; the other
        // waits for it and then finds the response.
        let taken = diesel::update(ik::table.find(id).filter(ik::status.is_null()))
            .set(ik::created_at.eq(time_util::now()))
            .execute(conn)?;
        if taken == 1 {
            return Ok(Claim::New(id));
        }
    }
    Err(ordo_core::DomainError::Internal(format!("idempotency key {key:?}: no response after takeover")))
}

/// Stores the response; called inside the use case's transaction.
pub fn complete(conn: &mut DbConnection, id: i64, resp: &StoredResponse) -> Result<()> {
    diesel::update(ik::table.find(id))
        .set((
            ik::status.eq(Some(resp.status as i32)),
            ik::response_body.eq(Some(&resp.body)),
            ik::location.eq(resp.location.as_deref()),
            ik::etag.eq(resp.etag.as_deref()),
        ))
        .execute(conn)?;
    Ok(())
}
