//! `Idempotency-Key` bookkeeping. A key is claimed (committed, so a concurrent
//! duplicate sees it in flight), the use case's transaction stores the response
//! on it, and a failed request releases it so the client may retry.

use crate::schema::idempotency_keys as ik;
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{time_util, Result};
use time::Duration;

/// A claim older than this without a response belongs to a crashed request.
const ABANDONED_AFTER: Duration = Duration::minutes(5);

#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<String>,
}

#[derive(Debug)]
pub enum Claim {
    /// First use of the key: the row id to complete or release.
    New(i64),
    Replay(StoredResponse),
    /// Same key, different request body.
    Mismatch,
    /// The first request with this key has not finished yet.
    InFlight,
}

#[derive(Insertable)]
#[diesel(table_name = ik)]
struct NewKey<'a> {
    principal: &'a str,
    idem_key: &'a str,
    request_hash: &'a str,
    created_at: time::PrimitiveDateTime,
}

type Row = (i64, String, Option<i32>, Option<String>, Option<String>, Option<String>, time::PrimitiveDateTime);

pub fn claim(conn: &mut DbConnection, principal: &str, key: &str, request_hash: &str) -> Result<Claim> {
    let now = time_util::now();
    let inserted = diesel::insert_into(ik::table)
        .values(NewKey { principal, idem_key: key, request_hash, created_at: now })
        .returning(ik::id)
        .get_result::<i64>(conn);
    match inserted {
        Ok(id) => return Ok(Claim::New(id)),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e.into()),
    }
    let (id, hash, status, body, location, etag, created): Row = ik::table
        .filter(ik::principal.eq(principal))
        .filter(ik::idem_key.eq(key))
        .select((ik::id, ik::request_hash, ik::status, ik::response_body, ik::location, ik::etag, ik::created_at))
        .first(conn)?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    match (status, body) {
        (Some(status), Some(body)) => Ok(Claim::Replay(StoredResponse { status: status as u16, body, location, etag })),
        _ if created < now - ABANDONED_AFTER => {
            // Take over an abandoned claim, atomically: only one retry wins it.
            let n = diesel::update(ik::table.find(id).filter(ik::created_at.eq(created)))
                .set(ik::created_at.eq(now))
                .execute(conn)?;
            Ok(if n == 1 { Claim::New(id) } else { Claim::InFlight })
        }
        _ => Ok(Claim::InFlight),
    }
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

/// Forgets a claim whose request failed, so the same key can be retried.
pub fn release(conn: &mut DbConnection, id: i64) -> Result<()> {
    diesel::delete(ik::table.find(id).filter(ik::status.is_null())).execute(conn)?;
    Ok(())
}
