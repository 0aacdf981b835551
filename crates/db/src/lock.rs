//! Row locks for use cases that read before they decide. On PostgreSQL a use case
//! that checks a limited quantity (what a line still holds, what a delivery line may
//! still take back) first takes `SELECT ... FOR UPDATE` on the row that guards it, so
//! a concurrent request for the same thing waits, then reads what the first one
//! committed. On SQLite every write transaction starts with `BEGIN IMMEDIATE` on the
//! one writer connection, so transactions never overlap and nothing needs locking.
//!
//! Lock order, to rule out deadlocks: a sales order's row first, then stock balances
//! (sorted), then order lines' stock rows (sorted). Nothing locks an order row while
//! holding a balance or a line.

use crate::DbConnection;
use diesel::prelude::*;
use ordo_core::Result;

/// Locks these rows of `table` (by id, in id order) until the transaction ends.
/// `table` is a constant of the caller's, never request data.
pub fn rows(conn: &mut DbConnection, table: &'static str, ids: &[i64]) -> Result<()> {
    if let DbConnection::Pg(c) = conn {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        diesel::sql_query(format!("SELECT id FROM {table} WHERE id IN ({list}) ORDER BY id FOR UPDATE")).execute(c)?;
    }
    Ok(())
}

/// Locks the parent row (`parent_table`) that the row `id` of `child_table` points to
/// through `fk`, in one statement: a delivery's or return's order, before the child
/// is read. All names are the caller's constants.
pub fn parent(
    conn: &mut DbConnection,
    parent_table: &'static str,
    child_table: &'static str,
    fk: &'static str,
    id: i64,
) -> Result<()> {
    if let DbConnection::Pg(c) = conn {
        diesel::sql_query(format!(
            "SELECT id FROM {parent_table} WHERE id = (SELECT {fk} FROM {child_table} WHERE id = {id}) FOR UPDATE"
        ))
        .execute(c)?;
    }
    Ok(())
}
