//! Credit and obligo control (Priority-style). A customer's limits (credit limit,
//! obligo limit, in the base currency) are its own or, without one, the nearest parent
//! customer's; the limit then covers that parent and every customer below it.
//!
//! - credit exposure = open orders (approved or in execution, not delivered) +
//!   delivered but not invoiced + open receivables (posted invoices − credit notes −
//!   money on account). A received cheque counts as paid here: it is allocated (or on
//!   account) from the day it arrives.
//! - obligo = credit exposure + cheques received but not cleared: a customer paying by
//!   cheques due in 90 days still carries that risk.
//!
//! Orders check it on submit and confirm, deliveries on creation; a sales manager
//! lets one order through with a reason. The exposure lives here, below fulfillment
//! and billing, because those steps run here and in fulfillment; it reads billing's
//! tables (read-only) through the shared schema.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Permission, Rate, Result, Scope};
use ordo_db::schema::{customers, document_lines, invoices, order_line_stock, payments, sales_orders};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

use crate::lines::HeaderPricing;

/// A credit account's position, in the base currency.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CreditPosition {
    /// The customer asked about.
    pub customer_id: i64,
    /// The customer whose limits apply (itself or the nearest parent with a limit);
    /// the figures cover it and every customer below it.
    pub account_id: i64,
    pub account_number: String,
    pub account_name: String,
    pub base_currency: Option<Currency>,
    pub credit_limit: Option<Money>,
    pub obligo_limit: Option<Money>,
    /// Approved or in-execution orders, what is neither delivered nor invoiced (gross).
    pub open_orders: Money,
    /// Delivered, not yet invoiced (gross).
    pub delivered_not_invoiced: Money,
    /// Posted invoices' open amounts − posted credit notes' open amounts − payments on
    /// account.
    pub open_receivables: Money,
    pub credit_exposure: Money,
    /// Cheques received and not cleared yet (their whole amount).
    pub uncleared_cheques: Money,
    /// Credit exposure + uncleared cheques.
    pub obligo: Money,
    /// Exposure / credit limit, percent (2 decimals); none without a limit.
    pub credit_utilisation: Option<Rate>,
    pub obligo_utilisation: Option<Rate>,
    pub customers: Vec<i64>,
}

struct Account {
    id: i64,
    number: String,
    name: String,
    credit_limit: Option<i64>,
    obligo_limit: Option<i64>,
}

/// What the credit check reads of a customer. A use case that reads the customer
/// anyway selects `CreditHead::as_select()` with the rest and hands it to [`check`].
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CreditHead {
    id: i64,
    number: String,
    name: String,
    credit_limit: Option<i64>,
    obligo_limit: Option<i64>,
    parent_id: Option<i64>,
}

/// The customer whose limits apply to `customer_id`: itself or the nearest ancestor
/// with a credit or obligo limit; None when nobody up the chain has one.
fn account_of(conn: &mut DbConnection, customer_id: i64) -> Result<(i64, Option<Account>)> {
    account_from(conn, customer_id, None)
}

/// [`account_of`], starting from the customer's own head when the caller has it.
fn account_from(
    conn: &mut DbConnection,
    customer_id: i64,
    mut head: Option<CreditHead>,
) -> Result<(i64, Option<Account>)> {
    let mut id = Some(customer_id);
    let mut seen = BTreeSet::new();
    while let Some(c) = id {
        if !seen.insert(c) {
            break;
        }
        let row: Option<CreditHead> = match head.take().filter(|h| h.id == c) {
            Some(h) => Some(h),
            None => customers::table.find(c).select(CreditHead::as_select()).first(conn).optional()?,
        };
        let Some(CreditHead { id: cid, number, name, credit_limit, obligo_limit, parent_id }) = row else { break };
        if credit_limit.is_some() || obligo_limit.is_some() {
            return Ok((customer_id, Some(Account { id: cid, number, name, credit_limit, obligo_limit })));
        }
        id = parent_id;
    }
    Ok((customer_id, None))
}

/// Each account with every customer below it: one query per level of the tree, for
/// any number of accounts.
fn members(conn: &mut DbConnection, accounts: &[i64]) -> Result<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = accounts.iter().map(|a| (*a, vec![*a])).collect();
    // (customer, its account) for the level being expanded.
    let mut frontier: Vec<(i64, i64)> = accounts.iter().map(|a| (*a, *a)).collect();
    for _ in 0..20 {
        if frontier.is_empty() {
            break;
        }
        let parents: HashMap<i64, i64> = frontier.iter().copied().collect();
        let ids: Vec<i64> = parents.keys().copied().collect();
        let children: Vec<(i64, Option<i64>)> = customers::table
            .filter(customers::parent_id.eq_any(&ids))
            .select((customers::id, customers::parent_id))
            .load(conn)?;
        frontier = vec![];
        for (child, parent) in children {
            let Some(account) = parent.and_then(|p| parents.get(&p)).copied() else { continue };
            let all = out.entry(account).or_default();
            if !all.contains(&child) {
                all.push(child);
                frontier.push((child, account));
            }
        }
    }
    Ok(out)
}

fn to_base(amount: i64, rate: i64, bdp: u32) -> Decimal {
    round_to(Money::from_scaled(amount).value() * Rate::from_scaled(rate).value(), bdp)
}

/// One customer's share of the figures, in the base currency.
#[derive(Default, Clone, Copy)]
struct Share {
    open_orders: Decimal,
    dni: Decimal,
    receivables: Decimal,
    cheques: Decimal,
}

/// The figures of a set of customers, in `base`.
fn figures(conn: &mut DbConnection, ids: &[i64], base: Currency) -> Result<CreditPosition> {
    let shares = shares(conn, ids, base)?;
    total(shares.values().copied(), ids)
}

fn total(shares: impl Iterator<Item = Share>, ids: &[i64]) -> Result<CreditPosition> {
    let t = shares.fold(Share::default(), |a, s| Share {
        open_orders: a.open_orders + s.open_orders,
        dni: a.dni + s.dni,
        receivables: a.receivables + s.receivables,
        cheques: a.cheques + s.cheques,
    });
    let m = |d: Decimal| Money::new(d).map_err(|e| DomainError::Internal(format!("credit figure: {e}")));
    let exposure = t.open_orders + t.dni + t.receivables;
    Ok(CreditPosition {
        open_orders: m(t.open_orders)?,
        delivered_not_invoiced: m(t.dni)?,
        open_receivables: m(t.receivables)?,
        credit_exposure: m(exposure)?,
        uncleared_cheques: m(t.cheques)?,
        obligo: m(exposure + t.cheques)?,
        customers: ids.to_vec(),
        ..Default::default()
    })
}

/// Each customer's share of the figures, in `base`: the same statements for one
/// customer or a thousand.
fn shares(conn: &mut DbConnection, ids: &[i64], base: Currency) -> Result<HashMap<i64, Share>> {
    let bdp = u32::from(base.minor_units());
    let mut out: HashMap<i64, Share> = HashMap::new();
    // Order lines not fully invoiced of orders that count.
    type L = (i64, i64, i64, String, String, i64, i64, i64, i64, i64);
    let ls: Vec<L> = document_lines::table
        .inner_join(sales_orders::table.on(sales_orders::id.eq(document_lines::doc_id)))
        .filter(document_lines::doc_kind.eq("sales_order"))
        .filter(sales_orders::customer_id.eq_any(ids))
        .filter(sales_orders::status.eq_any(["approved", "in_execution", "completed"]))
        .filter(document_lines::billed_quantity.lt(document_lines::base_quantity))
        .select((
            document_lines::id,
            sales_orders::id,
            sales_orders::customer_id,
            sales_orders::status,
            sales_orders::pricing,
            document_lines::gross,
            document_lines::base_quantity,
            document_lines::billed_quantity,
            document_lines::billed_net,
            document_lines::billed_tax,
        ))
        .load(conn)?;
    let line_ids: Vec<i64> = ls.iter().map(|l| l.0).collect();
    let delivered: HashMap<i64, i64> = if line_ids.is_empty() {
        HashMap::new()
    } else {
        order_line_stock::table
            .filter(order_line_stock::line_id.eq_any(&line_ids))
            .select((order_line_stock::line_id, order_line_stock::delivered))
            .load(conn)?
            .into_iter()
            .collect()
    };
    let mut rates: HashMap<i64, (Decimal, i64)> = HashMap::new();
    for (line, order, customer, status, pricing, gross, base_q, billed_q, billed_net, billed_tax) in ls {
        let rate = match rates.get(&order) {
            Some(r) => r.0,
            None => {
                let r =
                    HeaderPricing::parse(&pricing, "order").map(|p| p.totals.base_rate.value()).unwrap_or(Decimal::ONE);
                rates.insert(order, (r, customer));
                r
            }
        };
        let uninvoiced = Money::from_scaled(gross - billed_net - billed_tax).value().max(Decimal::ZERO);
        let done = match delivered.get(&line) {
            Some(d) => *d,
            None if status == "completed" => base_q,
            None => 0,
        };
        let dni_q = (done - billed_q).max(0);
        let left_q = (base_q - billed_q).max(1);
        let dni_part = (uninvoiced * Decimal::from(dni_q) / Decimal::from(left_q)).min(uninvoiced);
        let s = out.entry(customer).or_default();
        s.dni += round_to(dni_part * rate, bdp);
        s.open_orders += round_to((uninvoiced - dni_part) * rate, bdp);
    }
    // Shipping not yet invoiced: an order's gross beyond its lines'.
    let order_ids: Vec<i64> = rates.keys().copied().collect();
    if !order_ids.is_empty() {
        let heads: Vec<(i64, i64)> = sales_orders::table
            .filter(sales_orders::id.eq_any(&order_ids))
            .filter(sales_orders::shipping_invoiced.eq(false))
            .select((sales_orders::id, sales_orders::gross))
            .load(conn)?;
        if !heads.is_empty() {
            let with_ship: Vec<i64> = heads.iter().map(|h| h.0).collect();
            let all: Vec<(i64, i64)> = document_lines::table
                .filter(document_lines::doc_kind.eq("sales_order"))
                .filter(document_lines::doc_id.eq_any(&with_ship))
                .select((document_lines::doc_id, document_lines::gross))
                .load(conn)?;
            for (order, gross) in heads {
                let lines: i64 = all.iter().filter(|l| l.0 == order).map(|l| l.1).sum();
                let ship = gross - lines;
                if ship > 0 {
                    let (rate, customer) = rates[&order];
                    out.entry(customer).or_default().open_orders +=
                        round_to(Money::from_scaled(ship).value() * rate, bdp);
                }
            }
        }
    }
    // Open posted invoices and credit notes at their posting rates.
    let docs: Vec<(i64, String, i64, i64, i64)> = invoices::table
        .filter(invoices::customer_id.eq_any(ids))
        .filter(invoices::status.eq("posted"))
        .filter(invoices::settled.lt(invoices::gross))
        .select((invoices::customer_id, invoices::kind, invoices::gross, invoices::settled, invoices::base_rate))
        .load(conn)?;
    for (customer, kind, gross, settled, rate) in docs {
        let open = to_base(gross - settled, rate, bdp);
        let s = out.entry(customer).or_default();
        if kind == "credit_note" {
            s.receivables -= open;
        } else {
            s.receivables += open;
        }
    }
    let pays: Vec<(i64, String, i64, i64, i64, i64)> = payments::table
        .filter(payments::customer_id.eq_any(ids))
        .filter(payments::status.ne("bounced"))
        .filter(payments::status.eq("received").or((payments::allocated + payments::refunded).lt(payments::amount)))
        .select((
            payments::customer_id,
            payments::status,
            payments::amount,
            payments::allocated,
            payments::refunded,
            payments::base_rate,
        ))
        .load(conn)?;
    for (customer, status, amount, allocated, refunded, rate) in pays {
        let s = out.entry(customer).or_default();
        s.receivables -= to_base(amount - allocated - refunded, rate, bdp);
        if status == "received" {
            s.cheques += to_base(amount, rate, bdp);
        }
    }
    Ok(out)
}

fn percent(v: Money, limit: Option<i64>) -> Option<Rate> {
    let l = Money::from_scaled(limit?).value();
    if l.is_zero() {
        return None;
    }
    Rate::new(round_to(v.value() * Decimal::from(100) / l, 2)).ok()
}

/// A customer's credit position (its account's, when a parent's limit applies).
pub fn position(conn: &mut DbConnection, customer_id: i64, base: Currency) -> Result<CreditPosition> {
    let (asked, account) = account_of(conn, customer_id)?;
    let (account_id, number, name, cl, ol) = match &account {
        Some(a) => (a.id, a.number.clone(), a.name.clone(), a.credit_limit, a.obligo_limit),
        None => {
            let (number, name): (String, String) =
                customers::table.find(customer_id).select((customers::number, customers::name)).first(conn)?;
            (customer_id, number, name, None, None)
        }
    };
    let ids = match account {
        Some(_) => members(conn, &[account_id])?.remove(&account_id).unwrap_or_default(),
        None => vec![customer_id],
    };
    let p = figures(conn, &ids, base)?;
    Ok(with_limits(p, asked, Account { id: account_id, number, name, credit_limit: cl, obligo_limit: ol }, base))
}

fn with_limits(mut p: CreditPosition, asked: i64, a: Account, base: Currency) -> CreditPosition {
    p.base_currency = Some(base);
    p.customer_id = asked;
    p.account_id = a.id;
    p.account_number = a.number;
    p.account_name = a.name;
    p.credit_limit = a.credit_limit.map(Money::from_scaled);
    p.obligo_limit = a.obligo_limit.map(Money::from_scaled);
    p.credit_utilisation = percent(p.credit_exposure, a.credit_limit);
    p.obligo_utilisation = percent(p.obligo, a.obligo_limit);
    p
}

/// `GET /customers/{id}/credit`
pub fn get(conn: &mut DbConnection, caller: &Caller, customer_id: i64, base: Currency) -> Result<CreditPosition> {
    caller.require(Permission::BillingRead)?;
    ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
    position(conn, customer_id, base)
}

/// `GET /reports/credit`: every customer with a limit whose credit or obligo
/// utilisation is at least `min_percent`, highest first (an agent: their own).
pub fn report(
    conn: &mut DbConnection,
    caller: &Caller,
    min_percent: Decimal,
    base: Currency,
) -> Result<Vec<CreditPosition>> {
    caller.require(Permission::BillingRead)?;
    let mut q = customers::table
        .filter(customers::credit_limit.is_not_null().or(customers::obligo_limit.is_not_null()))
        .select((customers::id, customers::number, customers::name, customers::credit_limit, customers::obligo_limit))
        .into_boxed();
    if let Scope::OwnCustomers(me) = caller.scope() {
        q = q.filter(customers::owner_id.eq(me));
    }
    type A = (i64, String, String, Option<i64>, Option<i64>);
    let accounts: Vec<A> = q.order(customers::id.asc()).limit(1000).load(conn)?;
    let ids: Vec<i64> = accounts.iter().map(|a| a.0).collect();
    let members = members(conn, &ids)?;
    let all: Vec<i64> = members.values().flatten().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let shares = shares(conn, &all, base)?;
    let mut out = vec![];
    for (id, number, name, credit_limit, obligo_limit) in accounts {
        let mine = members.get(&id).cloned().unwrap_or_else(|| vec![id]);
        let p = total(mine.iter().filter_map(|c| shares.get(c).copied()), &mine)?;
        let p = with_limits(p, id, Account { id, number, name, credit_limit, obligo_limit }, base);
        let worst = p.credit_utilisation.map(|r| r.value()).max(p.obligo_utilisation.map(|r| r.value()));
        if worst.is_some_and(|w| w >= min_percent) {
            out.push(p);
        }
    }
    out.sort_by(|a, b| {
        let k =
            |p: &CreditPosition| p.credit_utilisation.map(|r| r.value()).max(p.obligo_utilisation.map(|r| r.value()));
        k(b).cmp(&k(a))
    });
    Ok(out)
}

/// Refuses a step that would take the customer's account over a limit: 422
/// `credit_limit_exceeded` or `obligo_limit_exceeded` with the figures. `adding` is
/// what the step adds that the figures do not hold yet (a draft order being submitted).
pub fn check(
    conn: &mut DbConnection,
    (customer_id, head): (i64, Option<CreditHead>),
    adding: Money,
    base: Currency,
    what: &str,
) -> Result<()> {
    let (_, account) = account_from(conn, customer_id, head)?;
    if account.is_none() {
        return Ok(());
    }
    let p = position(conn, customer_id, base)?;
    let add = adding.value();
    let figures = |x: Money| format!("{} {}", Money::new(x.value() + add).unwrap_or(x), base.code());
    let detail = |kind: &str, total: Money, limit: Money| {
        format!(
            "{what} would take {} {} ({}) to {} over its {kind} limit of {} {} (open orders {}, delivered not invoiced {}, receivables {}, uncleared cheques {}, this {})",
            p.account_number,
            p.account_name,
            if p.account_id == customer_id { "itself".to_string() } else { "its group".to_string() },
            figures(total),
            limit,
            base.code(),
            p.open_orders,
            p.delivered_not_invoiced,
            p.open_receivables,
            p.uncleared_cheques,
            adding,
        )
    };
    let refused = |kind: &str, exposure: Money, limit: Money, d: &str| {
        let data = serde_json::json!({"customer_id": customer_id, "account_id": p.account_id, "limit": kind,
            "limit_amount": limit, "exposure": exposure, "adding": adding, "currency": base.code(), "detail": d});
        ordo_db::events::on_rollback("credit_limit.exceeded", ("customer", p.account_id), Some(customer_id), &data);
    };
    if let Some(l) = p.credit_limit {
        if p.credit_exposure.value() + add > l.value() {
            let d = detail("credit", p.credit_exposure, l);
            refused("credit", p.credit_exposure, l, &d);
            return Err(DomainError::Rule {
                code: "credit_limit_exceeded",
                errors: vec![FieldError::new("customer_id", "credit_limit_exceeded", d.clone())],
                detail: d,
            });
        }
    }
    if let Some(l) = p.obligo_limit {
        if p.obligo.value() + add > l.value() {
            let d = detail("obligo", p.obligo, l);
            refused("obligo", p.obligo, l, &d);
            return Err(DomainError::Rule {
                code: "obligo_limit_exceeded",
                errors: vec![FieldError::new("customer_id", "obligo_limit_exceeded", d.clone())],
                detail: d,
            });
        }
    }
    Ok(())
}
