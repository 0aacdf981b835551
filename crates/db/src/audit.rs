//! The audit trail: every change writes who, when and what in the same transaction.

use crate::schema::audit_log;
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{Caller, Page, PageRequest, Result};
use serde_json::Value;
use time::PrimitiveDateTime;

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewEntry<'a> {
    entity: &'a str,
    entity_id: i64,
    action: &'a str,
    actor: &'a str,
    actor_name: &'a str,
    request_id: Option<&'a str>,
    at: PrimitiveDateTime,
    changes: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct Entry {
    pub id: i64,
    pub entity: String,
    pub entity_id: i64,
    pub action: String,
    pub actor: String,
    pub actor_name: String,
    pub request_id: Option<String>,
    pub at: PrimitiveDateTime,
    pub changes: String,
}

/// Records one change. `changes` is `{field: {"from": old, "to": new}}` for updates,
/// the full new state for creates.
pub fn record(
    conn: &mut DbConnection,
    caller: &Caller,
    entity: &str,
    entity_id: i64,
    action: &str,
    changes: &Value,
) -> Result<()> {
    diesel::insert_into(audit_log::table)
        .values(NewEntry {
            entity,
            entity_id,
            action,
            actor: &caller.principal.actor_key(),
            actor_name: &caller.principal.name,
            request_id: caller.request_id.as_deref(),
            at: ordo_core::time_util::now(),
            changes: changes.to_string(),
        })
        .execute(conn)?;
    Ok(())
}

/// The field-level difference between two JSON objects, for update records.
pub fn diff(before: &Value, after: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, new) in a {
            if matches!(k.as_str(), "version" | "updated_at" | "created_at") {
                continue;
            }
            let old = b.get(k).unwrap_or(&Value::Null);
            if old != new {
                out.insert(k.clone(), serde_json::json!({"from": old, "to": new}));
            }
        }
    }
    Value::Object(out)
}

pub fn history(conn: &mut DbConnection, entity: &str, entity_id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    let q = audit_log::table
        .filter(audit_log::entity.eq(entity))
        .filter(audit_log::entity_id.eq(entity_id))
        .select(Entry::as_select())
        .into_boxed();
    let rows = crate::keyset!(q, page, audit_log::id).load(conn)?;
    Ok(Page::from_rows(rows, page, |e| e.id))
}

/// Whether any audit entry names this entity (used by tests and by delete rules).
pub fn count_for(conn: &mut DbConnection, entity: &str, entity_id: i64) -> Result<i64> {
    Ok(audit_log::table
        .filter(audit_log::entity.eq(entity))
        .filter(audit_log::entity_id.eq(entity_id))
        .count()
        .get_result(conn)?)
}
