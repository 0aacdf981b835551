//! Receivables: what a customer owes. The customer statement for a period (opening
//! balance, invoices, credit notes, payments, refunds, closing balance) and the aging
//! report as of any date, both from posted documents and allocations only, in a
//! constant number of queries.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, Money, Result, Scope};
use ordo_db::schema::{allocations, customers, invoices, payments, territories, users};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::Date;

use crate::invoices::{InvoiceKind, POSTED};
use crate::payments::PaymentStatus;
use crate::read;

/// One line of a statement. `amount` is signed: what raises the balance the customer
/// owes is positive (invoices, refunds, bounced cheques), what lowers it negative.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementEntry {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// `invoice`, `credit_note`, `payment`, `bounced_cheque` or `refund`.
    pub kind: String,
    /// The invoice, credit note or payment.
    pub document_id: i64,
    pub number: String,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Date>,
    pub amount: Money,
    /// At the document's own rate (posting or payment date).
    pub base_amount: Money,
    /// The balance after this entry.
    pub balance: Money,
}

/// A customer's account for a period, in one currency and in the base currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub customer_id: i64,
    pub customer_name: String,
    pub currency: Currency,
    pub base_currency: Currency,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    pub opening_balance: Money,
    pub base_opening_balance: Money,
    pub entries: Vec<StatementEntry>,
    pub closing_balance: Money,
    pub base_closing_balance: Money,
}

pub struct StatementQuery {
    pub from: Date,
    pub to: Date,
    pub currency: Option<Currency>,
}

pub fn statement(
    conn: &mut DbConnection,
    caller: &Caller,
    customer_id: i64,
    q: StatementQuery,
    base: Currency,
) -> Result<Statement> {
    read(caller)?;
    if q.from > q.to {
        return Err(DomainError::field("from", "after_to", "`from` must not be after `to`"));
    }
    let c = ordo_crm::scope::customer(conn, caller.scope(), customer_id)?.to_model()?;
    let currency = q.currency.unwrap_or(c.currency);
    let code = currency.code();
    type Doc = (i64, String, String, Date, Option<Date>, i64, i64);
    let docs: Vec<Doc> = invoices::table
        .filter(invoices::customer_id.eq(customer_id))
        .filter(invoices::status.eq(POSTED))
        .filter(invoices::currency.eq(code))
        .filter(invoices::doc_date.le(q.to))
        .select((
            invoices::id,
            invoices::kind,
            invoices::number,
            invoices::doc_date,
            invoices::due_date,
            invoices::gross,
            invoices::base_gross,
        ))
        .load(conn)?;
    let pays: Vec<(i64, String, Date, i64, i64, String, time::PrimitiveDateTime)> = payments::table
        .filter(payments::customer_id.eq(customer_id))
        .filter(payments::currency.eq(code))
        .filter(payments::pay_date.le(q.to))
        .select((
            payments::id,
            payments::number,
            payments::pay_date,
            payments::amount,
            payments::base_amount,
            payments::status,
            payments::updated_at,
        ))
        .load(conn)?;
    // Refunds of payments and of credit notes in this currency.
    type Refund = (i64, Option<i64>, Option<i64>, Date, i64);
    let refunds: Vec<Refund> = allocations::table
        .filter(allocations::customer_id.eq(customer_id))
        .filter(allocations::kind.eq(crate::allocations::REFUND))
        .filter(allocations::alloc_date.le(q.to))
        .select((
            allocations::id,
            allocations::payment_id,
            allocations::credit_note_id,
            allocations::alloc_date,
            allocations::amount,
        ))
        .load(conn)?;
    let pay_info: HashMap<i64, (String, i64, i64)> = pays.iter().map(|p| (p.0, (p.1.clone(), p.4, p.3))).collect();
    let cn_info: HashMap<i64, (String, i64, i64)> = docs
        .iter()
        .filter(|d| d.1 == InvoiceKind::CreditNote.as_str())
        .map(|d| (d.0, (d.2.clone(), d.6, d.5)))
        .collect();
    let bdp = u32::from(base.minor_units());
    let mut entries: Vec<StatementEntry> = vec![];
    let mk = |date, kind: &str, id, number: String, due, amount: i64, base_amount: i64| StatementEntry {
        date,
        kind: kind.into(),
        document_id: id,
        number,
        due_date: due,
        amount: Money::from_scaled(amount),
        base_amount: Money::from_scaled(base_amount),
        balance: Money::ZERO,
    };
    for (id, kind, number, date, due, gross, base_gross) in &docs {
        let sign = if kind == InvoiceKind::CreditNote.as_str() { -1 } else { 1 };
        entries.push(mk(*date, kind, *id, number.clone(), *due, sign * gross, sign * base_gross));
    }
    for (id, number, date, amount, base_amount, status, updated) in &pays {
        entries.push(mk(*date, "payment", *id, number.clone(), None, -amount, -base_amount));
        if status == PaymentStatus::Bounced.as_str() && updated.date() <= q.to {
            entries.push(mk(updated.date(), "bounced_cheque", *id, number.clone(), None, *amount, *base_amount));
        }
    }
    for (_, pay, cn, date, amount) in &refunds {
        let src = pay.and_then(|p| pay_info.get(&p)).or_else(|| cn.and_then(|c| cn_info.get(&c)));
        let Some((number, base_total, total)) = src else { continue };
        // At the source's own rate: its base amount's share.
        let base_amount = if *total == 0 {
            0
        } else {
            let v = Money::from_scaled(*base_total).value() * Decimal::from(*amount) / Decimal::from(*total);
            Money::new(round_to(v, bdp)).map(|m| m.to_scaled()).unwrap_or(0)
        };
        let id = pay.or(*cn).unwrap_or(0);
        entries.push(mk(*date, "refund", id, number.clone(), None, *amount, base_amount));
    }
    // A day's documents before its money: invoices, credit notes, payments, bounces, refunds.
    let rank = |k: &str| ["invoice", "credit_note", "payment", "bounced_cheque", "refund"].iter().position(|x| *x == k);
    entries.sort_by_key(|e| (e.date, rank(&e.kind), e.document_id));
    let (mut open, mut base_open) = (0i64, 0i64);
    let mut shown = vec![];
    for e in entries {
        if e.date < q.from {
            open += e.amount.to_scaled();
            base_open += e.base_amount.to_scaled();
        } else {
            shown.push(e);
        }
    }
    let (mut bal, mut base_bal) = (open, base_open);
    for e in shown.iter_mut() {
        bal += e.amount.to_scaled();
        base_bal += e.base_amount.to_scaled();
        e.balance = Money::from_scaled(bal);
    }
    Ok(Statement {
        customer_id,
        customer_name: c.name,
        currency,
        base_currency: base,
        from: q.from,
        to: q.to,
        opening_balance: Money::from_scaled(open),
        base_opening_balance: Money::from_scaled(base_open),
        entries: shown,
        closing_balance: Money::from_scaled(bal),
        base_closing_balance: Money::from_scaled(base_bal),
    })
}

// ---- aging ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgingBy {
    #[default]
    Customer,
    /// The customer's owner (the sales agent).
    SalesAgent,
    Territory,
}

pub struct AgingQuery {
    pub as_of: Date,
    pub by: AgingBy,
    /// Upper bounds (days overdue) of the overdue buckets but the last; default 30, 60, 90.
    pub bounds: Vec<i64>,
}

/// One bucket: `current` (not yet due) or a range of days overdue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingBucket {
    /// `current`, `1-30`, `31-60`, `61-90`, `90+`.
    pub label: String,
    /// Open amount in the base currency.
    pub amount: Money,
    pub invoices: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingRow {
    /// Customer, sales agent (user) or territory id; none for customers without one.
    pub group_id: Option<i64>,
    pub group_name: String,
    pub total: Money,
    pub buckets: Vec<AgingBucket>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingReport {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    pub by: AgingBy,
    pub base_currency: Currency,
    pub rows: Vec<AgingRow>,
    pub totals: AgingRow,
}

/// Open posted invoices as of a date, by age: what was open then (allocations dated
/// on or before it and not reversed by then), at each invoice's posting rate.
pub fn aging(conn: &mut DbConnection, caller: &Caller, q: AgingQuery, base: Currency) -> Result<AgingReport> {
    caller.require(ordo_core::Permission::BillingRead)?;
    let mut bounds = q.bounds.clone();
    bounds.sort_unstable();
    bounds.dedup();
    if bounds.is_empty() || bounds[0] < 1 {
        return Err(DomainError::field("buckets", "invalid", "bucket bounds are whole days ≥ 1"));
    }
    let end = q.as_of.next_day().unwrap_or(q.as_of).midnight();
    // Invoices that could be open as of the date: open now, or settled after it (any
    // allocation change bumps the invoice's updated_at).
    let mut iq = invoices::table
        .inner_join(customers::table.on(customers::id.eq(invoices::customer_id)))
        .filter(invoices::kind.eq(InvoiceKind::Invoice.as_str()))
        .filter(invoices::status.eq(POSTED))
        .filter(invoices::doc_date.le(q.as_of))
        .filter(invoices::settled.lt(invoices::gross).or(invoices::updated_at.ge(end)))
        .select((
            invoices::id,
            invoices::customer_id,
            invoices::due_date,
            invoices::gross,
            invoices::settled,
            invoices::base_rate,
            invoices::updated_at,
            customers::name,
            customers::owner_id,
            customers::territory_id,
        ))
        .into_boxed();
    if let Scope::OwnCustomers(me) = caller.scope() {
        iq = iq.filter(customers::owner_id.eq(me));
    }
    type Row = (i64, i64, Option<Date>, i64, i64, i64, time::PrimitiveDateTime, String, Option<i64>, Option<i64>);
    let rows: Vec<Row> = iq.load(conn)?;
    // Invoices changed after the date: their settled amount as of it, from allocations.
    let changed: Vec<i64> = rows.iter().filter(|r| r.6 >= end).map(|r| r.0).collect();
    let mut settled_then: HashMap<i64, i64> = HashMap::new();
    for chunk in changed.chunks(5000) {
        let allocs: Vec<(Option<i64>, i64)> = allocations::table
            .filter(allocations::invoice_id.eq_any(chunk))
            .filter(allocations::alloc_date.le(q.as_of))
            .filter(allocations::reversed_at.is_null().or(allocations::reversed_at.ge(end)))
            .select((allocations::invoice_id, allocations::amount))
            .load(conn)?;
        for (inv, amount) in allocs {
            if let Some(i) = inv {
                *settled_then.entry(i).or_default() += amount;
            }
        }
    }
    let labels = labels(&bounds);
    let bdp = u32::from(base.minor_units());
    type Buckets = Vec<(Decimal, i64)>;
    let mut groups: BTreeMap<Option<i64>, (String, Buckets)> = BTreeMap::new();
    for (id, customer_id, due, gross, settled, rate, updated, name, owner, territory) in &rows {
        let settled = if *updated >= end { settled_then.get(id).copied().unwrap_or(0) } else { *settled };
        let open = gross - settled;
        if open <= 0 {
            continue;
        }
        let days = due.map(|d| (q.as_of - d).whole_days()).unwrap_or(0);
        let bucket = if days <= 0 { 0 } else { 1 + bounds.iter().take_while(|b| days > **b).count() };
        let amount = round_to(Money::from_scaled(open).value() * ordo_core::Rate::from_scaled(*rate).value(), bdp);
        let key = match q.by {
            AgingBy::Customer => Some(*customer_id),
            AgingBy::SalesAgent => *owner,
            AgingBy::Territory => *territory,
        };
        let e = groups.entry(key).or_insert_with(|| {
            (
                if q.by == AgingBy::Customer { name.clone() } else { String::new() },
                vec![(Decimal::ZERO, 0); labels.len()],
            )
        });
        e.1[bucket].0 += amount;
        e.1[bucket].1 += 1;
    }
    // Names of agents and territories: one query each.
    let ids: Vec<i64> = groups.keys().flatten().copied().collect();
    let names: HashMap<i64, String> = match q.by {
        AgingBy::Customer => HashMap::new(),
        AgingBy::SalesAgent => users::table
            .filter(users::id.eq_any(&ids))
            .select((users::id, users::display_name))
            .load(conn)?
            .into_iter()
            .collect(),
        AgingBy::Territory => territories::table
            .filter(territories::id.eq_any(&ids))
            .select((territories::id, territories::name))
            .load(conn)?
            .into_iter()
            .collect(),
    };
    let money = |d: Decimal| Money::new(d).map_err(|e| DomainError::Internal(format!("aging amount: {e}")));
    let mut totals = vec![(Decimal::ZERO, 0i64); labels.len()];
    let mut out = vec![];
    for (key, (name, buckets)) in groups {
        for (t, b) in totals.iter_mut().zip(&buckets) {
            t.0 += b.0;
            t.1 += b.1;
        }
        let name = if q.by == AgingBy::Customer {
            name
        } else {
            key.and_then(|k| names.get(&k).cloned()).unwrap_or_else(|| "(none)".into())
        };
        out.push(row(key, name, &labels, &buckets, money)?);
    }
    out.sort_by(|a, b| b.total.value().cmp(&a.total.value()).then(a.group_name.cmp(&b.group_name)));
    let totals = row(None, "Total".into(), &labels, &totals, money)?;
    Ok(AgingReport { as_of: q.as_of, by: q.by, base_currency: base, rows: out, totals })
}

fn labels(bounds: &[i64]) -> Vec<String> {
    let mut out = vec!["current".to_string()];
    let mut lo = 1;
    for b in bounds {
        out.push(format!("{lo}-{b}"));
        lo = b + 1;
    }
    out.push(format!("{}+", lo - 1));
    out
}

fn row(
    key: Option<i64>,
    name: String,
    labels: &[String],
    buckets: &[(Decimal, i64)],
    money: impl Fn(Decimal) -> Result<Money>,
) -> Result<AgingRow> {
    let total: Decimal = buckets.iter().map(|b| b.0).sum();
    Ok(AgingRow {
        group_id: key,
        group_name: name,
        total: money(total)?,
        buckets: labels
            .iter()
            .zip(buckets)
            .map(|(l, b)| Ok(AgingBucket { label: l.clone(), amount: money(b.0)?, invoices: b.1 }))
            .collect::<Result<_>>()?,
    })
}

// ---- exchange differences -------------------------------------------------------------------

/// `GET /reports/exchange-differences`: group by customer or by invoice currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FxBy {
    #[default]
    Customer,
    Currency,
}

/// Realised exchange gains and losses of one group, in the base currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FxRow {
    /// The customer id (`by=customer`); none by currency.
    pub group_id: Option<i64>,
    /// The customer's name or the invoice currency's code.
    pub group_name: String,
    /// Σ of the positive differences (money received worth more than booked).
    pub gain: Money,
    /// Σ of the negative differences (as a negative amount).
    pub loss: Money,
    /// gain + loss: the realised result.
    pub net: Money,
    /// Allocations counted (an undone allocation counts again with the opposite sign).
    pub allocations: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FxReport {
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    pub by: FxBy,
    pub base_currency: Currency,
    pub rows: Vec<FxRow>,
    pub totals: FxRow,
}

/// Realised exchange differences of a period: every allocation dated in it books its
/// difference (what the money applied is worth in the base currency at its rate minus
/// what the invoice part was booked at), and an allocation undone in the period books
/// it back. An agent sees only their customers.
pub fn exchange_differences(
    conn: &mut DbConnection,
    caller: &Caller,
    from: Date,
    to: Date,
    by: FxBy,
    base: Currency,
) -> Result<FxReport> {
    read(caller)?;
    if to < from {
        return Err(DomainError::field("to", "before_from", "must not be before `from`"));
    }
    let (start, end) = (from.midnight(), to.next_day().unwrap_or(to).midnight());
    let mut q = allocations::table
        .inner_join(invoices::table.on(allocations::invoice_id.eq(invoices::id.nullable())))
        .inner_join(customers::table.on(customers::id.eq(allocations::customer_id)))
        .filter(allocations::fx_difference.ne(0))
        .filter(
            allocations::alloc_date
                .between(from, to)
                .or(allocations::reversed_at.ge(start).and(allocations::reversed_at.lt(end))),
        )
        .select((
            allocations::customer_id,
            customers::name,
            invoices::currency,
            allocations::fx_difference,
            allocations::alloc_date,
            allocations::reversed_at,
        ))
        .into_boxed();
    if let Scope::OwnCustomers(me) = caller.scope() {
        q = q.filter(customers::owner_id.eq(me));
    }
    type Row = (i64, String, String, i64, Date, Option<time::PrimitiveDateTime>);
    let rows: Vec<Row> = q.load(conn)?;
    let mut groups: BTreeMap<(Option<i64>, String), (i64, i64, i64)> = BTreeMap::new();
    let mut add = |key: (Option<i64>, String), fx: i64| {
        let e = groups.entry(key).or_default();
        if fx > 0 {
            e.0 += fx;
        } else {
            e.1 += fx;
        }
        e.2 += 1;
    };
    for (customer, name, currency, fx, date, reversed) in rows {
        let key = match by {
            FxBy::Customer => (Some(customer), name),
            FxBy::Currency => (None, currency),
        };
        if date >= from && date <= to {
            add(key.clone(), fx);
        }
        if reversed.is_some_and(|r| r >= start && r < end) {
            add(key, -fx);
        }
    }
    let fx_row = |group_id: Option<i64>, group_name: String, (gain, loss, n): (i64, i64, i64)| FxRow {
        group_id,
        group_name,
        gain: Money::from_scaled(gain),
        loss: Money::from_scaled(loss),
        net: Money::from_scaled(gain + loss),
        allocations: n,
    };
    let mut total = (0, 0, 0);
    let mut out = vec![];
    for ((id, name), v) in groups {
        total = (total.0 + v.0, total.1 + v.1, total.2 + v.2);
        out.push(fx_row(id, name, v));
    }
    out.sort_by(|a, b| a.net.value().cmp(&b.net.value()).then(a.group_name.cmp(&b.group_name)));
    Ok(FxReport { from, to, by, base_currency: base, rows: out, totals: fx_row(None, "Total".into(), total) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bucket_labels() {
        assert_eq!(super::labels(&[30, 60, 90]), vec!["current", "1-30", "31-60", "61-90", "90+"]);
        assert_eq!(super::labels(&[15]), vec!["current", "1-15", "15+"]);
    }
}
