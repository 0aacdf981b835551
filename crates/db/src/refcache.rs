//! Reference data cached per process: what every order reads and hardly ever changes
//! (price lists, pricing rules, units, warehouses, approval routes, checklist
//! templates, which customers have prices of their own). Issue 16: those reads were a third of the order path's statements.
//!
//! Correctness across processes rests on one row, `reference_generation`, whose value
//! triggers replace (with a random number) in every transaction that changes one of
//! those tables. A cached copy is stamped with the value read (before the copy was
//! loaded) in the transaction that loaded it, and is used only by a transaction that
//! reads the same value. The value costs no statement of its own on the order path:
//! the first read a use case makes anyway (the customer, the order) carries it as a
//! scalar subquery ([`GENERATION_SQL`]) and hands it to [`observe`]; a use case that
//! did not pays one small read.
//!
//! Why random and not a counter: a transaction that changes reference data and then
//! loads it stamps its copy with its own, uncommitted value; if it rolls back, no
//! committed change will ever set that value again, so the copy is never used. A
//! transaction that changes reference data forgets what it observed ([`changed`], called
//! by the audit trail every such change writes), so its next lookup sees its own change.
//!
//! The cache belongs to one [`crate::Db`] (a test process holds many databases); it is
//! reachable while [`crate::Db::read`], [`crate::Db::write`] or
//! [`crate::Db::dry_run`] runs on this thread. Elsewhere [`get`] just loads.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use ordo_core::Result;

use crate::DbConnection;

/// The generation as a scalar subquery, to add to a read the caller makes anyway.
pub const GENERATION_SQL: &str = "(SELECT value FROM reference_generation WHERE id = 1)";

/// [`GENERATION_SQL`] as a diesel select expression (one that keeps the read preparable).
pub fn generation() -> crate::prepared::FixedSql {
    crate::prepared::FixedSql(GENERATION_SQL)
}

type Entry = (i64, Arc<dyn Any + Send + Sync>);

/// One database's cached reference data and the document numbers this process holds.
#[derive(Default)]
pub struct RefCache {
    /// By type, each with the generation it was loaded at.
    data: Mutex<HashMap<TypeId, Entry>>,
    /// By series code ([`crate::series`]).
    numbers: Mutex<HashMap<String, Held>>,
    /// Principals' token generations ([`crate::tokens`]).
    pub(crate) tokens: crate::tokens::TokenCache,
}

/// Numbers of a series taken for this process, valid while the generation is the one
/// they were taken at (changing a series bumps it, see [`bump`]).
#[derive(Debug, Clone)]
struct Held {
    generation: i64,
    pattern: String,
    /// The numbers left, in the order they are handed out.
    values: std::collections::VecDeque<i64>,
}

struct Context {
    cache: Arc<RefCache>,
    /// The generation this transaction read, when it read one.
    seen: Option<i64>,
    /// Rows this transaction read and may read again ([`remember`]).
    memo: HashMap<(TypeId, i64), Arc<dyn Any>>,
    /// Numbers taken in this transaction for later ones: the process holds them once
    /// it commits (on SQLite the block is a counter change that a rollback undoes).
    pending: Vec<(String, Held)>,
    /// This transaction revoked tokens ([`crate::tokens::revoked`]).
    revoked: bool,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Makes `cache` the current one for the work `f` does on this thread.
pub(crate) fn with<T>(cache: &Arc<RefCache>, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Context>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            CONTEXT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CONTEXT.with(|c| {
        c.borrow_mut().replace(Context {
            cache: cache.clone(),
            seen: None,
            memo: HashMap::new(),
            pending: vec![],
            revoked: false,
        })
    });
    let _reset = Reset(previous);
    f()
}

/// Records the generation a read of this transaction carried ([`GENERATION_SQL`]).
pub fn observe(generation: i64) {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.seen = Some(generation);
        }
    });
}

/// The audited entities stored in the tables the generation covers.
pub const REFERENCE_ENTITIES: [&str; 7] =
    ["price_list", "pricing_rule", "unit", "warehouse", "approval_route", "checklist_template", "customer_price"];

/// Forgets the observed generation: after this transaction changed reference data
/// itself, its next lookup reads the (now its own) generation afresh.
pub fn changed() {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.seen = None;
        }
    });
}

/// The cached `T`, loaded by `load` when there is no copy of the current generation.
pub fn get<T: Any + Send + Sync>(
    conn: &mut DbConnection,
    load: impl FnOnce(&mut DbConnection) -> Result<T>,
) -> Result<Arc<T>> {
    let Some((cache, seen)) = CONTEXT.with(|c| c.borrow().as_ref().map(|ctx| (ctx.cache.clone(), ctx.seen))) else {
        return Ok(Arc::new(load(conn)?));
    };
    let key = TypeId::of::<T>();
    // Without a generation observed since the last change, it is read now: it then
    // includes this transaction's own changes.
    let generation = match seen {
        Some(g) => g,
        None => {
            let g = diesel::select(generation()).get_result(conn)?;
            observe(g);
            g
        }
    };
    let hit =
        cache.data.lock().ok().and_then(|m| m.get(&key).filter(|(g, _)| *g == generation).map(|(_, v)| v.clone()));
    if let Some(v) = hit.and_then(|v| v.downcast::<T>().ok()) {
        return Ok(v);
    }
    // Loaded after the generation was read: the copy is at least as new as its stamp.
    let value = Arc::new(load(conn)?);
    if let Ok(mut m) = cache.data.lock() {
        m.insert(key, (generation, value.clone()));
    }
    Ok(value)
}

/// Keeps a row this transaction read (by type and id) for the rest of it: a use case
/// whose steps each look the same row up (a new order's customer: its checks, then its
/// prices) reads it once. The code that writes rows of the type calls [`forget`].
pub fn remember<T: Any + Clone>(id: i64, row: &T) {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.memo.insert((TypeId::of::<T>(), id), Arc::new(row.clone()));
        }
    });
}

/// The row [`remember`]ed in this transaction, if any.
pub fn remembered<T: Any + Clone>(id: i64) -> Option<T> {
    CONTEXT.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|ctx| ctx.memo.get(&(TypeId::of::<T>(), id)).and_then(|v| v.downcast_ref::<T>()).cloned())
    })
}

/// Drops a remembered row: it is being written.
pub fn forget<T: Any>(id: i64) {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.memo.remove(&(TypeId::of::<T>(), id));
        }
    });
}

/// The generation this transaction observed, if any.
pub fn seen() -> Option<i64> {
    CONTEXT.with(|c| c.borrow().as_ref().and_then(|ctx| ctx.seen))
}

/// The next number this process holds for `code` at the observed generation:
/// `(pattern, value)`.
pub fn take_number(code: &str) -> Option<(String, i64)> {
    CONTEXT.with(|c| {
        let c = c.borrow();
        let ctx = c.as_ref()?;
        let seen = ctx.seen?;
        let mut held = ctx.cache.numbers.lock().ok()?;
        let h = held.get_mut(code).filter(|h| h.generation == seen)?;
        let v = h.values.pop_front()?;
        Some((h.pattern.clone(), v))
    })
}

/// Hands `values` of series `code` (formatted with `pattern`) to the process, valid at
/// `generation`: at once (`now`, a PostgreSQL sequence gives numbers outside
/// transactions), or when this transaction commits.
pub fn hold_numbers(code: &str, generation: i64, pattern: &str, values: Vec<i64>, now: bool) {
    let held = Held { generation, pattern: pattern.to_string(), values: values.into() };
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let Some(ctx) = c.as_mut() else { return };
        if now {
            if let Ok(mut m) = ctx.cache.numbers.lock() {
                m.insert(code.to_string(), held);
            }
        } else {
            ctx.pending.push((code.to_string(), held));
        }
    });
}

/// The transaction committed (`true`) or rolled back: pending numbers are the
/// process's now, or never were.
pub(crate) fn finish(committed: bool) {
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let Some(ctx) = c.as_mut() else { return };
        let pending = std::mem::take(&mut ctx.pending);
        if committed {
            if let Ok(mut m) = ctx.cache.numbers.lock() {
                m.extend(pending);
            }
        }
        if std::mem::take(&mut ctx.revoked) && committed {
            ctx.cache.tokens.invalidate();
        }
    });
}

/// This transaction revoked tokens: the process drops its copies once it commits.
pub(crate) fn tokens_revoked() {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.revoked = true;
        }
    });
}

/// Sets a new generation in this transaction: for changes no trigger sees (a number
/// series moved or switched to gap-free; the counters themselves change all the time).
pub fn bump(conn: &mut DbConnection) -> Result<()> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(match conn {
        DbConnection::Pg(_) => "UPDATE reference_generation SET value = (random() * 9.0e18)::BIGINT WHERE id = 1",
        DbConnection::Sqlite(_) => "UPDATE reference_generation SET value = random() WHERE id = 1",
    })?;
    changed();
    Ok(())
}

/// How many number blocks this transaction took so far (see [`crate::conn::savepoint`]).
pub(crate) fn pending_mark() -> usize {
    CONTEXT.with(|c| c.borrow().as_ref().map_or(0, |ctx| ctx.pending.len()))
}

/// Forgets the blocks taken after `mark`: rolled back to a savepoint, the counter
/// gave them back.
pub(crate) fn pending_rollback_to(mark: usize) {
    CONTEXT.with(|c| {
        if let Some(ctx) = c.borrow_mut().as_mut() {
            ctx.pending.truncate(mark);
        }
    });
}
