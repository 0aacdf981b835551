//! Settings records: one JSON document per concern (the company, the service desk, the
//! ticket queue's scoring), each with a version for `If-Match` and an audit trail.
//! Rows are created by the migrations; a document stored as `{}` means "defaults".

use crate::schema::company_settings;
use crate::{audit, DbConnection};
use diesel::prelude::*;
use ordo_core::util::{check_version, json_text, to_json};
use ordo_core::{Caller, DomainError, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::{OffsetDateTime, PrimitiveDateTime};

pub const COMPANY: i64 = 1;
pub const SERVICE_DESK: i64 = 2;
pub const TICKET_SCORING: i64 = 3;

/// A settings document with its version.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub data: T,
    pub version: i64,
    pub updated_at: OffsetDateTime,
}

/// Reads record `id`; `{}` gives `T::default()`.
pub fn load<T: DeserializeOwned + Default>(conn: &mut DbConnection, id: i64) -> Result<Stored<T>> {
    let (data, version, updated_at): (String, i64, PrimitiveDateTime) = company_settings::table
        .find(id)
        .select((company_settings::data, company_settings::version, company_settings::updated_at))
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::Internal(format!("settings record {id} missing")))?;
    let data = if data.trim() == "{}" {
        T::default()
    } else {
        serde_json::from_str(&data).map_err(|e| DomainError::Internal(format!("settings record {id}: {e}")))?
    };
    Ok(Stored { data, version, updated_at: updated_at.assume_utc() })
}

/// Replaces record `id` under its version (locked first, so concurrent writers
/// queue), with an audit entry named `entity` holding the field differences.
pub fn save<T: Serialize + DeserializeOwned + Default>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    entity: &str,
    if_match: Option<i64>,
    next: T,
) -> Result<Stored<T>> {
    crate::lock::rows(conn, "company_settings", &[id])?;
    let current: Stored<T> = load(conn, id)?;
    check_version(if_match, current.version)?;
    let ts = ordo_core::time_util::now();
    let n = diesel::update(
        company_settings::table
            .filter(company_settings::id.eq(id))
            .filter(company_settings::version.eq(current.version)),
    )
    .set((
        company_settings::data.eq(json_text(&next)),
        company_settings::version.eq(current.version + 1),
        company_settings::updated_at.eq(ts),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::stale_version(current.version));
    }
    audit::record(conn, caller, entity, id, "update", &audit::diff(&to_json(&current.data), &to_json(&next)))?;
    Ok(Stored { data: next, version: current.version + 1, updated_at: ts.assume_utc() })
}
