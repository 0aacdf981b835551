//! Where a confirmed order line's stock is: per warehouse, what the line holds there
//! (its active reservations) and what open deliveries from there carry. A line is
//! sourced from one warehouse (where its back-orders wait), but its reservations may
//! sit in several (moved by hand, or reserved elsewhere), and each delivery ships from
//! one warehouse what the line holds there.
//!
//! Invariants, per line of an order in execution:
//! - `reserved` = Σ active reservations (all warehouses); in each warehouse what open
//!   deliveries carry ≤ what the line holds there;
//! - `reserved + backordered + delivered` = max(`ordered`, `delivered` + on open
//!   deliveries) (a delivery over the ordered quantity, within the item's tolerance,
//!   reserves the extra);
//! - a cancelled or completed order holds nothing and has nothing on open deliveries.

use diesel::prelude::*;
use ordo_core::Result;
use ordo_db::schema::{deliveries, delivery_lines, order_line_stock, reservations};
use ordo_db::DbConnection;
use std::collections::HashMap;

use crate::reservations::{LineStockRow, ReservationStatus};
use crate::stock::{self, Balances};

/// One open delivery's part of a line.
#[derive(Debug, Clone)]
pub struct Carried {
    pub delivery_id: i64,
    pub number: String,
    pub warehouse_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Default)]
pub struct Holdings {
    /// (line, warehouse) → Σ active reservations.
    held: HashMap<(i64, i64), i64>,
    /// line → its lines on open (draft or picked) deliveries.
    carried: HashMap<i64, Vec<Carried>>,
}

impl Holdings {
    pub fn load(conn: &mut DbConnection, lines: &[i64]) -> Result<Holdings> {
        let mut h = Holdings::default();
        if lines.is_empty() {
            return Ok(h);
        }
        let held: Vec<(Option<i64>, i64, i64)> = reservations::table
            .filter(reservations::order_line_id.eq_any(lines))
            .filter(reservations::status.eq(ReservationStatus::Active.as_str()))
            .select((reservations::order_line_id, reservations::warehouse_id, reservations::quantity))
            .load(conn)?;
        for (line, wh, q) in held {
            if let Some(l) = line {
                *h.held.entry((l, wh)).or_default() += q;
            }
        }
        let carried: Vec<(i64, i64, String, i64, i64)> = delivery_lines::table
            .inner_join(deliveries::table.on(deliveries::id.eq(delivery_lines::delivery_id)))
            .filter(delivery_lines::order_line_id.eq_any(lines))
            .filter(deliveries::status.eq_any(crate::deliveries::OPEN))
            .order(deliveries::id.asc())
            .select((
                delivery_lines::order_line_id,
                deliveries::id,
                deliveries::number,
                deliveries::warehouse_id,
                delivery_lines::quantity,
            ))
            .load(conn)?;
        for (line, delivery_id, number, warehouse_id, quantity) in carried {
            h.carried.entry(line).or_default().push(Carried { delivery_id, number, warehouse_id, quantity });
        }
        Ok(h)
    }

    pub fn held(&self, line: i64, wh: i64) -> i64 {
        self.held.get(&(line, wh)).copied().unwrap_or(0)
    }
    pub fn carriers(&self, line: i64, wh: i64) -> impl Iterator<Item = &Carried> {
        self.carried.get(&line).into_iter().flatten().filter(move |c| c.warehouse_id == wh)
    }
    pub fn carried(&self, line: i64, wh: i64) -> i64 {
        self.carriers(line, wh).map(|c| c.quantity).sum()
    }
    pub fn carried_total(&self, line: i64) -> i64 {
        self.carried.get(&line).into_iter().flatten().map(|c| c.quantity).sum()
    }
    /// Held in `wh` and not on an open delivery yet: what a new delivery may take, and
    /// what may be released or moved.
    pub fn free(&self, line: i64, wh: i64) -> i64 {
        self.held(line, wh) - self.carried(line, wh)
    }
    /// The warehouses the line holds stock in or ships from, in id order.
    pub fn warehouses(&self, line: i64) -> Vec<i64> {
        let mut w: Vec<i64> = self
            .held
            .iter()
            .filter(|((l, _), q)| *l == line && **q > 0)
            .map(|((_, w), _)| *w)
            .chain(self.carried.get(&line).into_iter().flatten().map(|c| c.warehouse_id))
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    }
    /// Delivery numbers that carry the line's stock out of `wh` (for error messages).
    pub fn carrier_numbers(&self, line: i64, wh: i64) -> String {
        let mut n: Vec<&str> = self.carriers(line, wh).map(|c| c.number.as_str()).collect();
        n.dedup();
        n.join(", ")
    }
}

/// The stock lines of one order.
pub fn line_rows_of_order(conn: &mut DbConnection, order: i64) -> Result<Vec<LineStockRow>> {
    Ok(order_line_stock::table
        .filter(order_line_stock::sales_order_id.eq(order))
        .order(order_line_stock::id.asc())
        .select(LineStockRow::as_select())
        .load(conn)?)
}

pub fn line_rows(conn: &mut DbConnection, line_ids: &[i64]) -> Result<Vec<LineStockRow>> {
    Ok(order_line_stock::table
        .filter(order_line_stock::line_id.eq_any(line_ids))
        .order(order_line_stock::id.asc())
        .select(LineStockRow::as_select())
        .load(conn)?)
}

/// For a change of these lines of an order whose row the caller has locked: locks the
/// balances the change can touch (each line's item in its sourcing warehouse and
/// wherever it holds stock, plus `extra`), then reads the lines and their holdings as
/// they are now (on PostgreSQL again, since the locks may have waited for a change).
pub fn lock_lines(
    conn: &mut DbConnection,
    line_ids: &[i64],
    extra: &[(i64, i64)],
) -> Result<(Vec<LineStockRow>, Holdings, Balances)> {
    let rows = line_rows(conn, line_ids)?;
    let holdings = Holdings::load(conn, line_ids)?;
    let item_of: HashMap<i64, i64> = rows.iter().map(|r| (r.line_id, r.item_id)).collect();
    let mut pairs: Vec<(i64, i64)> = rows.iter().map(|r| (r.item_id, r.warehouse_id)).collect();
    pairs.extend(holdings.held.keys().filter_map(|(l, w)| item_of.get(l).map(|i| (*i, *w))));
    pairs.extend(extra.iter().copied());
    let balances = stock::lock_balances(conn, &pairs, false)?;
    if matches!(conn, DbConnection::Pg(_)) {
        return Ok((line_rows(conn, line_ids)?, Holdings::load(conn, line_ids)?, balances));
    }
    Ok((rows, holdings, balances))
}
