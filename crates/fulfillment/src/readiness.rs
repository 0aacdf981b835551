//! What stands between a sales order and its next step, all at once: the approval
//! stages still open, what confirmation needs (contract number, payment terms, every
//! required checklist point), and what the stock allows. A front end shows it as a
//! to-do list instead of discovering one refusal after another.

use diesel::prelude::*;
use ordo_core::{Caller, Permission, Quantity, Result};
use ordo_db::schema::items;
use ordo_db::DbConnection;
use ordo_sales_docs::lines::{self, DocKind};
use ordo_sales_docs::orders::{self, OrderStatus};
use serde::Serialize;

use crate::holdings::{self, Holdings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    Submit,
    Approve,
    Confirm,
    Deliver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockerKind {
    /// The order has no lines.
    Lines,
    /// A header field the step needs (`field` names it).
    Field,
    /// A required checklist point not ticked (`field` is `checklist[<point id>]`).
    Checklist,
    /// An approval stage still open (`field` is `approval.stages[<n>]`).
    Approval,
    /// Stock: nothing to deliver yet, or what would be back-ordered.
    Stock,
    /// The order is closed: there is no next step.
    Status,
}

/// One thing in the way (or, among `notes`, worth knowing).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Blocker {
    pub kind: BlockerKind,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

/// `GET /sales-orders/{id}/readiness`
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub sales_order_id: i64,
    pub status: OrderStatus,
    /// Null once the order is completed, cancelled or archived.
    pub next_step: Option<NextStep>,
    /// True when nothing in `blockers`: the next step would succeed now.
    pub ready: bool,
    /// What must change first; the step's 422 lists the same.
    pub blockers: Vec<Blocker>,
    /// What does not block the next step but is worth knowing (what confirmation
    /// will need later, stock that would be back-ordered).
    pub notes: Vec<Blocker>,
}

fn blocker(kind: BlockerKind, field: Option<String>, code: &str, message: impl Into<String>) -> Blocker {
    Blocker { kind, field, code: code.into(), message: message.into() }
}

pub fn readiness(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Readiness> {
    caller.require(Permission::SalesDocsRead)?;
    let row = orders::find(conn, caller, id)?;
    let status = row.status()?;
    let mut blockers = vec![];
    let mut notes = vec![];
    let as_blockers = |errs: Vec<ordo_core::FieldError>| -> Vec<Blocker> {
        errs.into_iter()
            .map(|e| {
                let kind = if e.field.starts_with("checklist") { BlockerKind::Checklist } else { BlockerKind::Field };
                blocker(kind, Some(e.field), &e.code, e.message)
            })
            .collect()
    };
    let next_step = match status {
        OrderStatus::Draft => {
            if lines::load(conn, DocKind::SalesOrder, id)?.is_empty() {
                blockers.push(blocker(BlockerKind::Lines, Some("lines".into()), "no_lines", "add a line first"));
            }
            notes.extend(as_blockers(orders::confirmation_blockers(conn, &row)?));
            Some(NextStep::Submit)
        }
        OrderStatus::PendingApproval => {
            for (n, s) in row.approval()?.stages.iter().enumerate().filter(|(_, s)| s.status == "pending") {
                blockers.push(blocker(
                    BlockerKind::Approval,
                    Some(format!("approval.stages[{n}]")),
                    "pending",
                    format!("stage {:?} waits for someone with the role {}", s.name, s.role),
                ));
            }
            notes.extend(as_blockers(orders::confirmation_blockers(conn, &row)?));
            Some(NextStep::Approve)
        }
        OrderStatus::Approved => {
            blockers.extend(as_blockers(orders::confirmation_blockers(conn, &row)?));
            notes.extend(shortages(conn, caller, id)?);
            Some(NextStep::Confirm)
        }
        OrderStatus::InExecution => {
            let rows = holdings::line_rows_of_order(conn, id)?;
            let ids: Vec<i64> = rows.iter().map(|l| l.line_id).collect();
            let held = Holdings::load(conn, &ids)?;
            let deliverable =
                rows.iter().any(|r| held.warehouses(r.line_id).iter().any(|w| held.free(r.line_id, *w) > 0));
            if !deliverable {
                blockers.push(blocker(
                    BlockerKind::Stock,
                    None,
                    "nothing_to_deliver",
                    "no line holds stock that is not on a delivery yet",
                ));
            }
            for r in rows.iter().filter(|r| r.backordered > 0) {
                notes.push(blocker(
                    BlockerKind::Stock,
                    Some(format!("lines[{}]", r.line_id)),
                    "backordered",
                    format!("{} of item {} waits for stock", Quantity::from_scaled(r.backordered), r.item_id),
                ));
            }
            Some(NextStep::Deliver)
        }
        OrderStatus::Completed | OrderStatus::Cancelled | OrderStatus::Archived => {
            blockers.push(blocker(
                BlockerKind::Status,
                Some("status".into()),
                "closed",
                format!("sales order {} is {}: nothing comes next", row.number, row.status),
            ));
            None
        }
    };
    Ok(Readiness { sales_order_id: id, status, next_step, ready: blockers.is_empty(), blockers, notes })
}

/// For an approved order: the stock lines confirmation could not reserve in full now.
fn shortages(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<Blocker>> {
    let order = orders::get(conn, caller, id)?;
    let doc_lines = lines::load(conn, DocKind::SalesOrder, id)?;
    let item_ids: Vec<i64> = doc_lines.iter().map(|l| l.item_id).collect();
    let stock_items: Vec<i64> = items::table
        .filter(items::id.eq_any(&item_ids))
        .filter(items::kind.eq("stock"))
        .select(items::id)
        .load(conn)?;
    let stock_lines: Vec<&lines::LineRow> = doc_lines.iter().filter(|l| stock_items.contains(&l.item_id)).collect();
    if stock_lines.is_empty() {
        return Ok(vec![]);
    }
    let wh = crate::reservations::sourcing(conn, &order, &stock_lines, None)?;
    let mut free = crate::availability::free_stock(conn, &stock_items)?;
    let mut out = vec![];
    for l in stock_lines {
        let left = free.entry((l.item_id, wh[&l.id])).or_default();
        let got = (*left).clamp(0, l.base_quantity);
        *left -= got;
        if got < l.base_quantity {
            out.push(blocker(
                BlockerKind::Stock,
                Some(format!("lines[{}]", l.id)),
                "would_backorder",
                format!(
                    "{} of {} (base units) of item {} is free in warehouse {}: the rest would be back-ordered",
                    Quantity::from_scaled(got),
                    Quantity::from_scaled(l.base_quantity),
                    l.item_id,
                    wh[&l.id]
                ),
            ));
        }
    }
    Ok(out)
}
