//! Allocations: money applied to an invoice (from a payment or a credit note) or paid
//! out (a refund of a payment's or a credit note's unapplied rest). Both sides change
//! by conditional updates in the same transaction, so an invoice is never settled
//! beyond its gross and a payment never spent beyond its amount, whatever runs
//! concurrently: of two allocations of the last open amount exactly one succeeds.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Rate, Result};
use ordo_db::schema::{allocations, invoices};
use ordo_db::DbConnection;
use serde::Serialize;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

pub const PAYMENT: &str = "payment";
pub const CREDIT_NOTE: &str = "credit_note";
pub const REFUND: &str = "refund";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = allocations, treat_none_as_default_value = false)]
pub struct AllocationRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub kind: String,
    pub payment_id: Option<i64>,
    pub credit_note_id: Option<i64>,
    pub invoice_id: Option<i64>,
    pub customer_id: i64,
    pub amount: i64,
    pub source_amount: i64,
    pub rate: i64,
    pub fx_difference: i64,
    pub alloc_date: Date,
    pub reversed_at: Option<PrimitiveDateTime>,
    pub reversed_reason: Option<String>,
    pub actor: String,
    pub created_at: PrimitiveDateTime,
}

/// One application of money: to an invoice, or out to the customer (a refund).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Allocation {
    pub id: i64,
    /// `payment` (a payment settles an invoice), `credit_note` (a credit note settles an
    /// invoice) or `refund` (money paid back).
    pub kind: String,
    pub payment_id: Option<i64>,
    pub credit_note_id: Option<i64>,
    /// None for a refund.
    pub invoice_id: Option<i64>,
    pub customer_id: i64,
    /// In the invoice's currency (a refund: the source's).
    pub amount: Money,
    /// What it took from the payment or credit note, in its currency.
    pub source_amount: Money,
    /// Source currency units per invoice currency unit on the allocation date.
    pub rate: Rate,
    /// Base currency: what the payment is worth at its rate minus what the invoice
    /// part was booked at; positive is an exchange gain.
    pub fx_difference: Money,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Set when the allocation was undone (unallocated, or its cheque bounced).
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reversed_at: Option<OffsetDateTime>,
    pub reversed_reason: Option<String>,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl AllocationRow {
    pub fn to_model(&self) -> Allocation {
        Allocation {
            id: self.id,
            kind: self.kind.clone(),
            payment_id: self.payment_id,
            credit_note_id: self.credit_note_id,
            invoice_id: self.invoice_id,
            customer_id: self.customer_id,
            amount: Money::from_scaled(self.amount),
            source_amount: Money::from_scaled(self.source_amount),
            rate: Rate::from_scaled(self.rate),
            fx_difference: Money::from_scaled(self.fx_difference),
            date: self.alloc_date,
            reversed_at: self.reversed_at.map(|t| t.assume_utc()),
            reversed_reason: self.reversed_reason.clone(),
            actor: self.actor.clone(),
            created_at: self.created_at.assume_utc(),
        }
    }
}

/// A new allocation; `id` 0 until stored.
#[allow(clippy::too_many_arguments)]
pub fn new_row(
    caller: &Caller,
    kind: &str,
    payment_id: Option<i64>,
    credit_note_id: Option<i64>,
    invoice_id: Option<i64>,
    customer_id: i64,
    amount: i64,
    source_amount: i64,
    rate: i64,
    fx_difference: i64,
    date: Date,
) -> AllocationRow {
    AllocationRow {
        id: 0,
        kind: kind.into(),
        payment_id,
        credit_note_id,
        invoice_id,
        customer_id,
        amount,
        source_amount,
        rate,
        fx_difference,
        alloc_date: date,
        reversed_at: None,
        reversed_reason: None,
        actor: caller.principal.actor_key(),
        created_at: now(),
    }
}

pub fn insert(conn: &mut DbConnection, rows: &[AllocationRow]) -> Result<Vec<AllocationRow>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    Ok(ordo_db::insert_batch!(conn, allocations::table, rows,
        returning allocations::all_columns => AllocationRow))
}

/// Settles `amount` of a posted invoice: 422 naming `field` when that is more than is
/// open (the check and the change are one statement).
pub fn settle(conn: &mut DbConnection, invoice_id: i64, number: &str, amount: i64, field: &str) -> Result<()> {
    let n = diesel::update(
        invoices::table
            .filter(invoices::id.eq(invoice_id))
            .filter(invoices::status.eq(crate::invoices::POSTED))
            .filter((invoices::settled + amount).le(invoices::gross)),
    )
    .set((
        invoices::settled.eq(invoices::settled + amount),
        invoices::version.eq(invoices::version + 1),
        invoices::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::Rule {
            code: "exceeds_open_amount",
            detail: format!("{number} has less than {} open", Money::from_scaled(amount)),
            errors: vec![FieldError::new(field, "exceeds_open_amount", format!("more than {number} has open"))],
        });
    }
    Ok(())
}

/// Gives back what an allocation settled (unconditional: the allocation existed).
pub fn unsettle(conn: &mut DbConnection, invoice_id: i64, amount: i64) -> Result<()> {
    diesel::update(invoices::table.find(invoice_id))
        .set((
            invoices::settled.eq(invoices::settled - amount),
            invoices::version.eq(invoices::version + 1),
            invoices::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks allocations reversed and gives their invoices back what they settled.
pub fn reverse(conn: &mut DbConnection, rows: &[AllocationRow], reason: &str) -> Result<()> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let n = diesel::update(
        allocations::table.filter(allocations::id.eq_any(&ids)).filter(allocations::reversed_at.is_null()),
    )
    .set((allocations::reversed_at.eq(now()), allocations::reversed_reason.eq(reason)))
    .execute(conn)?;
    if n != ids.len() {
        return Err(DomainError::conflict(
            "already_reversed",
            "an allocation was reversed meanwhile; re-read and retry",
        ));
    }
    for r in rows {
        if let Some(inv) = r.invoice_id {
            unsettle(conn, inv, r.amount)?;
        }
    }
    Ok(())
}

/// Active allocations of a payment or a credit note (or to an invoice).
pub fn active_of(
    conn: &mut DbConnection,
    payment_id: Option<i64>,
    credit_note_id: Option<i64>,
    invoice_id: Option<i64>,
) -> Result<Vec<AllocationRow>> {
    let mut q = allocations::table.filter(allocations::reversed_at.is_null()).into_boxed();
    if let Some(p) = payment_id {
        q = q.filter(allocations::payment_id.eq(p));
    }
    if let Some(c) = credit_note_id {
        q = q.filter(allocations::credit_note_id.eq(c));
    }
    if let Some(i) = invoice_id {
        q = q.filter(allocations::invoice_id.eq(i));
    }
    Ok(q.order(allocations::id.asc()).select(AllocationRow::as_select()).load(conn)?)
}

/// Every allocation (reversed ones too) of a payment, credit note or invoice.
pub fn all_of(conn: &mut DbConnection, id: i64, side: Side) -> Result<Vec<Allocation>> {
    let q = allocations::table.into_boxed();
    let q = match side {
        Side::Payment => q.filter(allocations::payment_id.eq(id)),
        Side::CreditNote => q.filter(allocations::credit_note_id.eq(id)),
        Side::Invoice => q.filter(allocations::invoice_id.eq(id)),
    };
    let rows: Vec<AllocationRow> = q.order(allocations::id.asc()).select(AllocationRow::as_select()).load(conn)?;
    Ok(rows.iter().map(AllocationRow::to_model).collect())
}

#[derive(Debug, Clone, Copy)]
pub enum Side {
    Payment,
    CreditNote,
    Invoice,
}

/// The exchange difference of allocating `amount` of an invoice booked at
/// `invoice_rate` with `source_amount` of money worth `source_rate` (both base units per
/// unit), rounded to the base currency.
pub fn fx_difference(amount: i64, invoice_rate: i64, source_amount: i64, source_rate: i64, base: Currency) -> i64 {
    let bdp = u32::from(base.minor_units());
    let inv = ordo_pricing::engine::round_to(
        Money::from_scaled(amount).value() * Rate::from_scaled(invoice_rate).value(),
        bdp,
    );
    let src = ordo_pricing::engine::round_to(
        Money::from_scaled(source_amount).value() * Rate::from_scaled(source_rate).value(),
        bdp,
    );
    Money::new(src - inv).map(|m| m.to_scaled()).unwrap_or(0)
}
