//! The audit trail: every change writes who, when and what in the same transaction.

use crate::schema::audit_log;
use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::{Caller, Page, PageRequest, Result};
use serde_json::Value;
use std::cell::RefCell;
use time::PrimitiveDateTime;

#[derive(Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
struct NewEntry {
    entity: String,
    entity_id: i64,
    action: String,
    actor: String,
    actor_name: String,
    request_id: Option<String>,
    at: PrimitiveDateTime,
    changes: String,
    journal_stage: Option<String>,
    journal_kind: Option<String>,
    journal_text: Option<String>,
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

thread_local! {
    /// The entries of the transaction running on this thread, written in one insert
    /// right before it commits ([`crate::conn::transaction`]); `None` outside one.
    static PENDING: RefCell<Option<Vec<NewEntry>>> = const { RefCell::new(None) };
}

/// Collects the audit entries of the work `f` does on this thread and writes them in
/// one insert when it succeeds (issue 16: one statement per transaction, not per
/// entry). Nothing is written when `f` fails: the transaction rolls back anyway.
pub(crate) fn buffered<T>(conn: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> Result<T>) -> Result<T> {
    struct Restore(Option<Vec<NewEntry>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            PENDING.with(|p| *p.borrow_mut() = outer);
        }
    }
    let _restore = Restore(PENDING.with(|p| p.borrow_mut().replace(vec![])));
    let out = f(conn)?;
    let entries = PENDING.with(|p| p.borrow_mut().replace(vec![])).unwrap_or_default();
    write(conn, entries)?;
    Ok(out)
}

/// How many entries this transaction has queued (see [`crate::conn::savepoint`]).
pub(crate) fn mark() -> usize {
    PENDING.with(|p| p.borrow().as_ref().map_or(0, Vec::len))
}

/// Drops the entries queued after `mark`: their changes were rolled back to a savepoint.
pub(crate) fn rollback_to(mark: usize) {
    PENDING.with(|p| {
        if let Some(q) = p.borrow_mut().as_mut() {
            q.truncate(mark);
        }
    });
}

fn write(conn: &mut DbConnection, entries: Vec<NewEntry>) -> Result<()> {
    if !entries.is_empty() {
        crate::insert_batch!(conn, audit_log::table, &entries);
    }
    Ok(())
}

/// Queues an entry (written now when no transaction collects them).
fn push(conn: &mut DbConnection, entry: NewEntry) -> Result<()> {
    let unqueued = PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(q) => {
            q.push(entry);
            None
        }
        None => Some(entry),
    });
    match unqueued {
        Some(e) => write(conn, vec![e]),
        None => Ok(()),
    }
}

fn entry(caller: &Caller, entity: &str, entity_id: i64, action: &str, changes: String) -> NewEntry {
    NewEntry {
        entity: entity.to_string(),
        entity_id,
        action: action.to_string(),
        actor: caller.principal.actor_key(),
        actor_name: caller.principal.name.clone(),
        request_id: caller.request_id.clone(),
        at: ordo_core::time_util::now(),
        changes,
        journal_stage: None,
        journal_kind: None,
        journal_text: None,
    }
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
    // Every change of reference data is audited: this transaction reads it afresh now.
    if crate::refcache::REFERENCE_ENTITIES.contains(&entity) {
        crate::refcache::changed();
    }
    push(conn, entry(caller, entity, entity_id, action, changes.to_string()))
}

/// One line of a document's journal (`kind` `event` or `comment`, in `stage`): it goes
/// on this transaction's latest entry for the document by the same caller when that
/// has none yet (the change the line describes), else on an entry of its own
/// (action `journal`).
pub fn journal(
    conn: &mut DbConnection,
    caller: &Caller,
    (entity, entity_id): (&str, i64),
    stage: &str,
    kind: &str,
    text: String,
) -> Result<()> {
    let actor = caller.principal.actor_key();
    let line = (Some(stage.to_string()), Some(kind.to_string()), Some(text));
    // The line, when there is no entry of this transaction to carry it.
    let unattached = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let own = p.as_mut().and_then(|q| {
            q.iter_mut().rev().find(|e| e.entity == entity && e.entity_id == entity_id && e.actor == actor)
        });
        match own.filter(|e| e.journal_text.is_none()) {
            Some(e) => {
                (e.journal_stage, e.journal_kind, e.journal_text) = line;
                None
            }
            None => Some(line),
        }
    });
    match unattached {
        None => Ok(()),
        Some(line) => {
            let mut e = entry(caller, entity, entity_id, "journal", "{}".into());
            (e.journal_stage, e.journal_kind, e.journal_text) = line;
            push(conn, e)
        }
    }
}

/// A journal line as stored: `(audit id, stage, kind, text, actor, actor name, at)`.
pub type JournalRow = (i64, String, String, String, String, String, PrimitiveDateTime);

/// A document's journal, oldest first.
pub fn journal_of(conn: &mut DbConnection, entity: &str, entity_id: i64) -> Result<Vec<JournalRow>> {
    type Stored = (i64, Option<String>, Option<String>, Option<String>, String, String, PrimitiveDateTime);
    let rows: Vec<Stored> = audit_log::table
        .filter(audit_log::entity.eq(entity))
        .filter(audit_log::entity_id.eq(entity_id))
        .filter(audit_log::journal_text.is_not_null())
        .order(audit_log::id.asc())
        .select((
            audit_log::id,
            audit_log::journal_stage,
            audit_log::journal_kind,
            audit_log::journal_text,
            audit_log::actor,
            audit_log::actor_name,
            audit_log::at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, s, k, t, a, n, at)| {
            (id, s.unwrap_or_default(), k.unwrap_or_default(), t.unwrap_or_default(), a, n, at)
        })
        .collect())
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
