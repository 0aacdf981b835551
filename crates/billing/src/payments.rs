//! Received payments: bank transfers, cards, cash and cheques (a cheque may be
//! post-dated: `received → cleared | bounced`). A payment is allocated to invoices
//! explicitly or oldest due first; what is not allocated stays on account; allocations
//! can be undone; the unallocated rest can be refunded. A bounced cheque reopens what
//! it paid. A payment in another currency than the invoice is converted at the
//! payment date's rate, and the exchange difference against the invoice's posting
//! rate is recorded on the allocation.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Page, PageRequest, Rate, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{allocations, customers, invoices, payments};
use ordo_db::{series, DbConnection};
use ordo_pricing::engine::round_to;
use ordo_sales_docs::docs::DOC_CUSTOMER;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::allocations::{self as alloc, Allocation, AllocationRow, Side};
use crate::invoices::{self as bill, InvoiceKind, InvoiceRow};
use crate::{read, write};

pub const PAYMENT: &str = "payment";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    BankTransfer,
    Card,
    Cash,
    Cheque,
}

impl PaymentMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BankTransfer => "bank_transfer",
            Self::Card => "card",
            Self::Cash => "cash",
            Self::Cheque => "cheque",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::BankTransfer, Self::Card, Self::Cash, Self::Cheque].into_iter().find(|m| m.as_str() == s)
    }
}

/// A cheque is `received` until the bank clears it (or it bounces); other payments are
/// `cleared` when recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Received,
    Cleared,
    Bounced,
}

impl PaymentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Cleared => "cleared",
            Self::Bounced => "bounced",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Received, Self::Cleared, Self::Bounced].into_iter().find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = payments, treat_none_as_null = true)]
pub struct PaymentRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub pay_date: Date,
    pub amount: i64,
    pub currency: String,
    pub method: String,
    pub reference: Option<String>,
    pub cheque_due_date: Option<Date>,
    pub status: String,
    #[diesel(skip_update)]
    pub allocated: i64,
    #[diesel(skip_update)]
    pub refunded: i64,
    pub base_rate: i64,
    pub base_amount: i64,
    pub bounce_fee: Option<i64>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: i64,
    /// `PAY-2026-000001`.
    pub number: String,
    pub customer_id: i64,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub amount: Money,
    pub currency: Currency,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    /// Cheques: the day the cheque may be cashed (post-dated when after `date`).
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub cheque_due_date: Option<Date>,
    pub status: PaymentStatus,
    /// Allocated to invoices, in the payment currency.
    pub allocated: Money,
    pub refunded: Money,
    /// On account: amount − allocated − refunded (0 once bounced).
    pub unallocated: Money,
    /// Base currency units per payment currency unit on the payment date.
    pub base_rate: Rate,
    pub base_amount: Money,
    pub notes: Option<String>,
    /// With a single payment: its allocations and refunds, reversed ones included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocations: Option<Vec<Allocation>>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl PaymentRow {
    fn currency(&self) -> Result<Currency> {
        Currency::from_code(&self.currency)
            .ok_or_else(|| DomainError::Internal(format!("payment {}: currency", self.id)))
    }
    fn open(&self) -> i64 {
        if self.status == PaymentStatus::Bounced.as_str() {
            0
        } else {
            self.amount - self.allocated - self.refunded
        }
    }
    pub fn to_model(&self, allocations: Option<Vec<Allocation>>) -> Result<Payment> {
        let corrupt = |what: &str| DomainError::Internal(format!("payment {}: {what}", self.id));
        Ok(Payment {
            id: self.id,
            number: self.number.clone(),
            customer_id: self.customer_id,
            date: self.pay_date,
            amount: Money::from_scaled(self.amount),
            currency: self.currency()?,
            method: PaymentMethod::parse(&self.method).ok_or_else(|| corrupt("method"))?,
            reference: self.reference.clone(),
            cheque_due_date: self.cheque_due_date,
            status: PaymentStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            allocated: Money::from_scaled(self.allocated),
            refunded: Money::from_scaled(self.refunded),
            unallocated: Money::from_scaled(self.open()),
            base_rate: Rate::from_scaled(self.base_rate),
            base_amount: Money::from_scaled(self.base_amount),
            notes: self.notes.clone(),
            allocations,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

/// `POST /payments`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentCreate {
    pub customer_id: i64,
    /// The day the money (or the cheque) was received; default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Money,
    pub currency: Currency,
    pub method: PaymentMethod,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub reference: Option<String>,
    /// Cheques only: the day it may be cashed; default the payment date.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub cheque_due_date: Option<Date>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    /// Allocate to the customer's open invoices in this currency, oldest due first
    /// (what is left, or everything when nothing is open, stays on account).
    #[serde(default)]
    pub allocate_oldest_first: bool,
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<PaymentRow> {
    let q = payments::table.filter(payments::id.eq(id)).select(PaymentRow::as_select()).into_boxed();
    ordo_sales_docs::scoped!(q, caller, payments::customer_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("payment", id))
}

fn for_write(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<PaymentRow> {
    ordo_db::lock::rows(conn, "payments", &[id])?;
    let row = find(conn, caller, id)?;
    write(caller)?;
    check_version(if_match, row.version)?;
    Ok(row)
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Payment> {
    read(caller)?;
    let row = find(conn, caller, id)?;
    let a = alloc::all_of(conn, id, Side::Payment)?;
    row.to_model(Some(a))
}

pub fn create(conn: &mut DbConnection, caller: &Caller, input: PaymentCreate, base: Currency) -> Result<Payment> {
    write(caller)?;
    let c = ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", input.customer_id)?;
    if input.allocate_oldest_first {
        // Before the payment row: inserting it takes a key-share lock on the customer,
        // and two payments each holding one would deadlock asking for this lock later.
        lock_open_invoices(conn, c.id)?;
    }
    let today = now().date();
    let date = input.date.unwrap_or(today);
    if date > today {
        return Err(DomainError::field("date", "in_future", "a payment is recorded when it is received"));
    }
    let cheque = input.method == PaymentMethod::Cheque;
    if input.cheque_due_date.is_some() && !cheque {
        return Err(DomainError::field("cheque_due_date", "cheques_only", "only a cheque has a due date"));
    }
    let dp = u32::from(input.currency.minor_units());
    if round_to(input.amount.value(), dp) != input.amount.value() {
        return Err(DomainError::field(
            "amount",
            "too_precise",
            format!("{} has {dp} decimals", input.currency.code()),
        ));
    }
    let rate = bill::base_rate(conn, input.currency, base, date)?;
    let bdp = u32::from(base.minor_units());
    let base_amount = Money::new(round_to(input.amount.value() * rate, bdp))
        .map_err(|e| ordo_core::error::amount_out_of_range("amount", e.to_string()))?;
    let ts = now();
    let row = PaymentRow {
        id: 0,
        number: series::next_number(conn, PAYMENT)?,
        customer_id: c.id,
        pay_date: date,
        amount: input.amount.to_scaled(),
        currency: input.currency.code().into(),
        method: input.method.as_str().into(),
        reference: input.reference,
        cheque_due_date: if cheque { Some(input.cheque_due_date.unwrap_or(date)) } else { None },
        status: if cheque { PaymentStatus::Received } else { PaymentStatus::Cleared }.as_str().into(),
        allocated: 0,
        refunded: 0,
        base_rate: Rate::new(rate).map_err(|e| DomainError::Internal(e.to_string()))?.to_scaled(),
        base_amount: base_amount.to_scaled(),
        bounce_fee: None,
        notes: input.notes,
        version: 1,
        created_at: ts,
        updated_at: ts,
    };
    let saved: PaymentRow =
        diesel::insert_into(payments::table).values(&row).returning(payments::all_columns).get_result(conn)?;
    audit::record(conn, caller, PAYMENT, saved.id, "create", &to_json(&saved.to_model(None)?))?;
    if input.allocate_oldest_first {
        // Nothing open: the payment simply stays on account.
        match oldest_first(conn, &saved, None) {
            Ok(plans) => allocate_rows(conn, caller, &saved, plans, base)?,
            Err(DomainError::Rule { code: "nothing_to_allocate", .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let v = get(conn, caller, saved.id)?;
    ordo_db::events::emit(conn, caller, "payment.received", ("payment", v.id), Some(v.customer_id), &v)?;
    Ok(v)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub customer_id: Option<i64>,
    pub status: Option<PaymentStatus>,
    pub method: Option<PaymentMethod>,
    /// Only payments with money on account.
    pub unallocated: Option<bool>,
    pub date_from: Option<Date>,
    pub date_to: Option<Date>,
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Payment>> {
    read(caller)?;
    let build = || {
        let mut q = payments::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(payments::customer_id)))
            .select((PaymentRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = ordo_sales_docs::scoped!(q, caller, payments::customer_id);
        if let Some(c) = f.customer_id {
            q = q.filter(payments::customer_id.eq(c));
        }
        if let Some(s) = f.status {
            q = q.filter(payments::status.eq(s.as_str()));
        }
        if let Some(m) = f.method {
            q = q.filter(payments::method.eq(m.as_str()));
        }
        if let Some(d) = f.date_from {
            q = q.filter(payments::pay_date.ge(d));
        }
        if let Some(d) = f.date_to {
            q = q.filter(payments::pay_date.le(d));
        }
        match f.unallocated {
            Some(true) => q
                .filter(payments::status.ne(PaymentStatus::Bounced.as_str()))
                .filter((payments::allocated + payments::refunded).lt(payments::amount)),
            Some(false) => q.filter(
                payments::status
                    .eq(PaymentStatus::Bounced.as_str())
                    .or((payments::allocated + payments::refunded).ge(payments::amount)),
            ),
            None => q,
        }
    };
    let total = ordo_db::total!(conn, page, build());
    type R = (PaymentRow, String);
    let customer_name = DOC_CUSTOMER.field(customers::name);
    let mut rows = ordo_db::keyset_page!(conn, build(), page, payments::id => |r: &R| r.0.id,
        "number" => payments::number: String = |r: &R| r.0.number.clone(),
        "date" => payments::pay_date: Date = |r: &R| r.0.pay_date,
        "amount" => payments::amount: i64 = |r: &R| r.0.amount,
        "customer_name" => customer_name: String = |r: &R| r.1.clone(),
        "created_at" => payments::created_at: PrimitiveDateTime = |r: &R| r.0.created_at,
    );
    rows.total = total;
    let data = rows.data.iter().map(|r| r.0.to_model(None)).collect::<Result<_>>()?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    read(caller)?;
    find(conn, caller, id)?;
    audit::history(conn, PAYMENT, id, page)
}

/// `POST /payments/{id}/allocations`: explicit invoices and amounts, or oldest due
/// first.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    #[serde(default)]
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub invoices: Vec<AllocationLine>,
    /// Instead of `invoices`: the customer's open invoices, oldest due first.
    #[serde(default)]
    pub oldest_first: bool,
    /// With `oldest_first`: allocate at most this much (payment currency).
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Option<Money>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationLine {
    pub invoice_id: i64,
    /// In the invoice's currency; default as much as is open on both sides.
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Option<Money>,
}

/// One planned allocation: the invoice, the amount (invoice currency, or None for as
/// much as possible) and the request field it came from.
struct Plan {
    invoice: InvoiceRow,
    amount: Option<i64>,
    field: String,
}

pub fn allocate(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: AllocationRequest,
    base: Currency,
) -> Result<Payment> {
    let p = for_write(conn, caller, id, if_match)?;
    not_bounced(&p)?;
    if input.oldest_first != input.invoices.is_empty() {
        return Err(DomainError::field(
            "invoices",
            "invoices_or_oldest_first",
            "name the invoices to allocate to, or ask for `oldest_first`",
        ));
    }
    if input.amount.is_some() && !input.oldest_first {
        return Err(DomainError::field("amount", "oldest_first_only", "give the amounts per invoice instead"));
    }
    let plans = if input.oldest_first {
        lock_open_invoices(conn, p.customer_id)?;
        oldest_first(conn, &p, input.amount.map(|a| a.to_scaled()))?
    } else {
        let ids: Vec<i64> = input.invoices.iter().map(|l| l.invoice_id).collect();
        let q = invoices::table.filter(invoices::id.eq_any(&ids)).select(InvoiceRow::as_select()).into_boxed();
        let found: Vec<InvoiceRow> = ordo_sales_docs::scoped!(q, caller, invoices::customer_id).load(conn)?;
        let mut plans = vec![];
        for (n, l) in input.invoices.iter().enumerate() {
            let Some(inv) = found.iter().find(|i| i.id == l.invoice_id) else {
                return Err(DomainError::reference_not_found(
                    "invoice",
                    &format!("invoices[{n}].invoice_id"),
                    l.invoice_id,
                ));
            };
            plans.push(Plan {
                invoice: inv.clone(),
                amount: l.amount.map(|a| a.to_scaled()),
                field: format!("invoices[{n}]"),
            });
        }
        plans
    };
    allocate_rows(conn, caller, &p, plans, base)?;
    get(conn, caller, id)
}

/// The customer's posted, open invoices, oldest due first, up to what the payment has.
/// Payments of one customer allocating oldest first go one after the other (the
/// customer's row is the lock): without it two of them read the same open amount and
/// the second fails settling it (found by the bench's order-to-cash mix), where it
/// should take what is still open. Taken before `oldest_first` reads.
fn lock_open_invoices(conn: &mut DbConnection, customer_id: i64) -> Result<()> {
    ordo_db::lock::rows(conn, "customers", &[customer_id])
}

fn oldest_first(conn: &mut DbConnection, p: &PaymentRow, cap: Option<i64>) -> Result<Vec<Plan>> {
    let open: Vec<InvoiceRow> = invoices::table
        .filter(invoices::customer_id.eq(p.customer_id))
        .filter(invoices::kind.eq(InvoiceKind::Invoice.as_str()))
        .filter(invoices::status.eq(bill::POSTED))
        .filter(invoices::settled.lt(invoices::gross))
        .filter(invoices::currency.eq(&p.currency))
        .order((invoices::due_date.asc(), invoices::id.asc()))
        .select(InvoiceRow::as_select())
        .load(conn)?;
    let mut left = cap.unwrap_or(i64::MAX).min(p.open());
    let mut plans = vec![];
    for inv in open {
        if left <= 0 {
            break;
        }
        let take = inv.open().min(left);
        left -= take;
        plans.push(Plan { invoice: inv, amount: Some(take), field: "oldest_first".into() });
    }
    if plans.is_empty() {
        return Err(DomainError::rule(
            "nothing_to_allocate",
            format!("no open invoices in {} to allocate payment {} to, or nothing left on it", p.currency, p.number),
        ));
    }
    Ok(plans)
}

fn not_bounced(p: &PaymentRow) -> Result<()> {
    if p.status == PaymentStatus::Bounced.as_str() {
        return Err(DomainError::conflict(
            "payment_bounced",
            format!("payment {} bounced: nothing to allocate", p.number),
        ));
    }
    Ok(())
}

fn allocate_rows(
    conn: &mut DbConnection,
    caller: &Caller,
    p: &PaymentRow,
    plans: Vec<Plan>,
    base: Currency,
) -> Result<()> {
    not_bounced(p)?;
    let pay_currency = p.currency()?;
    let mut rows = vec![];
    let mut total_source = 0i64;
    let mut errs = vec![];
    for plan in &plans {
        let inv = &plan.invoice;
        if inv.kind()? != InvoiceKind::Invoice || inv.is_draft() || inv.customer_id != p.customer_id {
            errs.push(FieldError::new(
                format!("{}.invoice_id", plan.field),
                "not_allocatable",
                "a payment is allocated to posted invoices of its customer",
            ));
            continue;
        }
        let inv_currency = inv.currency()?;
        // Payment currency units per invoice currency unit on the payment date.
        let rate = if inv_currency == pay_currency {
            Decimal::ONE
        } else {
            let set = [inv_currency.code().to_string(), pay_currency.code().to_string()].into_iter().collect();
            let fx = ordo_pricing::fx::load(conn, &set, p.pay_date)?;
            ordo_pricing::fx::rate(&fx, p.pay_date, inv_currency, pay_currency)?
        };
        let pdp = u32::from(pay_currency.minor_units());
        let idp = u32::from(inv_currency.minor_units());
        let left = p.open() - total_source;
        let amount = match plan.amount {
            Some(a) => a,
            None => {
                // As much as both have: the payment's rest in invoice currency, capped.
                let in_inv = if rate.is_zero() {
                    0
                } else {
                    Money::new(round_to(Money::from_scaled(left).value() / rate, idp))
                        .map(|m| m.to_scaled())
                        .unwrap_or(0)
                };
                in_inv.min(inv.open())
            }
        };
        if amount <= 0 {
            errs.push(FieldError::new(
                format!("{}.amount", plan.field),
                "nothing_open",
                "nothing left to allocate here",
            ));
            continue;
        }
        let source = Money::new(round_to(Money::from_scaled(amount).value() * rate, pdp))
            .map_err(|e| ordo_core::error::amount_out_of_range(&plan.field, e.to_string()))?
            .to_scaled();
        total_source += source;
        let fx = alloc::fx_difference(amount, inv.base_rate, source, p.base_rate, base);
        rows.push(alloc::new_row(
            caller,
            alloc::PAYMENT,
            Some(p.id),
            None,
            Some(inv.id),
            p.customer_id,
            amount,
            source,
            Rate::new(rate).map_err(|e| DomainError::Internal(e.to_string()))?.to_scaled(),
            fx,
            p.pay_date,
        ));
    }
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    for (plan, r) in plans.iter().zip(&rows) {
        alloc::settle(conn, plan.invoice.id, &plan.invoice.number, r.amount, &format!("{}.amount", plan.field))?;
    }
    let n = diesel::update(
        payments::table
            .filter(payments::id.eq(p.id))
            .filter(payments::status.ne(PaymentStatus::Bounced.as_str()))
            .filter((payments::allocated + payments::refunded + total_source).le(payments::amount)),
    )
    .set((
        payments::allocated.eq(payments::allocated + total_source),
        payments::version.eq(payments::version + 1),
        payments::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::Rule {
            code: "exceeds_payment",
            detail: format!(
                "payment {} has {} {} left to allocate; this needs {}",
                p.number,
                Money::from_scaled(p.open()),
                p.currency,
                Money::from_scaled(total_source)
            ),
            errors: vec![FieldError::new("invoices", "exceeds_payment", "more than the payment has left")],
        });
    }
    let saved = alloc::insert(conn, &rows)?;
    let made: Vec<Allocation> = saved.iter().map(AllocationRow::to_model).collect();
    audit::record(conn, caller, PAYMENT, p.id, "allocate", &to_json(&made))?;
    Ok(())
}

/// `POST /payments/{id}/allocations/{allocation_id}/reverse`: undo one allocation.
pub fn unallocate(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    allocation_id: i64,
    if_match: Option<i64>,
) -> Result<Payment> {
    let p = for_write(conn, caller, id, if_match)?;
    let rows: Vec<AllocationRow> = allocations::table
        .filter(allocations::id.eq(allocation_id))
        .filter(allocations::payment_id.eq(id))
        .select(AllocationRow::as_select())
        .load(conn)?;
    let Some(a) = rows.first() else {
        return Err(DomainError::not_found("allocation", allocation_id));
    };
    if a.reversed_at.is_some() {
        return Err(DomainError::conflict(
            "already_reversed",
            format!("allocation {allocation_id} is reversed already"),
        ));
    }
    if a.kind == alloc::REFUND {
        return Err(DomainError::conflict("refund_final", "a refund has left the company: it is not undone here"));
    }
    alloc::reverse(conn, &rows, "unallocated")?;
    diesel::update(payments::table.find(id))
        .set((
            payments::allocated.eq(payments::allocated - a.source_amount),
            payments::version.eq(payments::version + 1),
            payments::updated_at.eq(now()),
        ))
        .execute(conn)?;
    audit::record(conn, caller, PAYMENT, p.id, "unallocate", &to_json(&a.to_model()))?;
    get(conn, caller, id)
}

/// `POST /payments/{id}/clear`: the bank cashed the cheque.
pub fn clear(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Payment> {
    let p = for_write(conn, caller, id, if_match)?;
    if p.status != PaymentStatus::Received.as_str() {
        return Err(DomainError::conflict(
            "not_a_pending_cheque",
            format!("payment {} is {}: only received cheques clear", p.number, p.status),
        ));
    }
    set_status(conn, caller, &p, PaymentStatus::Cleared, None)
}

/// `POST /payments/{id}/bounce`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BounceRequest {
    /// What the bank charged for the returned cheque (payment currency), recorded on
    /// the payment.
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub fee: Option<Money>,
}

/// A bounced cheque pays nothing: every invoice it settled is open again.
pub fn bounce(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: BounceRequest,
) -> Result<Payment> {
    let p = for_write(conn, caller, id, if_match)?;
    if p.status != PaymentStatus::Received.as_str() {
        return Err(DomainError::conflict(
            "not_a_pending_cheque",
            format!("payment {} is {}: only received cheques bounce", p.number, p.status),
        ));
    }
    let active = alloc::active_of(conn, Some(id), None, None)?;
    let to_reverse: Vec<AllocationRow> = active.into_iter().filter(|a| a.kind != alloc::REFUND).collect();
    let back: i64 = to_reverse.iter().map(|a| a.source_amount).sum();
    alloc::reverse(conn, &to_reverse, "cheque bounced")?;
    diesel::update(payments::table.find(id)).set(payments::allocated.eq(payments::allocated - back)).execute(conn)?;
    set_status(conn, caller, &p, PaymentStatus::Bounced, input.fee.map(|f| f.to_scaled()))
}

fn set_status(
    conn: &mut DbConnection,
    caller: &Caller,
    p: &PaymentRow,
    to: PaymentStatus,
    fee: Option<i64>,
) -> Result<Payment> {
    let n = diesel::update(payments::table.filter(payments::id.eq(p.id)).filter(payments::status.eq(&p.status)))
        .set((
            payments::status.eq(to.as_str()),
            payments::bounce_fee.eq(fee),
            payments::version.eq(payments::version + 1),
            payments::updated_at.eq(now()),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(DomainError::conflict("concurrent_change", format!("payment {} changed meanwhile", p.number)));
    }
    audit::record(
        conn,
        caller,
        PAYMENT,
        p.id,
        "update",
        &serde_json::json!({"status": {"from": p.status, "to": to.as_str()}, "bounce_fee": fee.map(Money::from_scaled)}),
    )?;
    get(conn, caller, p.id)
}

/// `POST /payments/{id}/refund`: pays money on account back.
pub fn refund(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: crate::credit_notes::RefundRequest,
) -> Result<Payment> {
    let p = for_write(conn, caller, id, if_match)?;
    if p.status == PaymentStatus::Received.as_str() {
        return Err(DomainError::conflict(
            "cheque_not_cleared",
            format!("payment {} is a cheque not cleared yet: nothing is paid back before the bank pays it", p.number),
        ));
    }
    let amount = input.amount.map(|a| a.to_scaled()).unwrap_or(p.open());
    let n = if amount > 0 {
        diesel::update(
            payments::table
                .filter(payments::id.eq(id))
                .filter(payments::status.ne(PaymentStatus::Bounced.as_str()))
                .filter((payments::allocated + payments::refunded + amount).le(payments::amount)),
        )
        .set((
            payments::refunded.eq(payments::refunded + amount),
            payments::version.eq(payments::version + 1),
            payments::updated_at.eq(now()),
        ))
        .execute(conn)?
    } else {
        0
    };
    if n == 0 {
        return Err(DomainError::Rule {
            code: "exceeds_payment",
            detail: format!("payment {} has {} on account", p.number, Money::from_scaled(p.open())),
            errors: vec![FieldError::new("amount", "exceeds_payment", "more than the payment has on account")],
        });
    }
    let row = alloc::new_row(
        caller,
        alloc::REFUND,
        Some(id),
        None,
        None,
        p.customer_id,
        amount,
        amount,
        Rate::from_scaled(100_000_000).to_scaled(),
        0,
        input.date.unwrap_or(now().date()),
    );
    let saved = alloc::insert(conn, &[row])?;
    audit::record(conn, caller, PAYMENT, id, "refund", &to_json(&saved[0].to_model()))?;
    get(conn, caller, id)
}

/// Allocations of an invoice or credit note (for its page).
pub fn of_invoice(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<Allocation>> {
    read(caller)?;
    let inv = bill::find(conn, caller, id)?;
    let side = if inv.kind()? == InvoiceKind::CreditNote { Side::CreditNote } else { Side::Invoice };
    alloc::all_of(conn, id, side)
}
