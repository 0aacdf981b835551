//! Credit notes (corrective invoices): by quantity, by amount per line, a full
//! reversal, or what a received return brought back. Never more than was invoiced
//! minus what is already credited, per line (conditional update on the invoice line's
//! credited counter) and in total (conditional update on the invoice's). Posted in
//! their own gap-free series; on posting they settle the invoice they correct as far
//! as it is open; the rest can be applied to another invoice or refunded.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::to_json;
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Quantity, Rate, Result};
use ordo_db::audit;
use ordo_db::schema::{delivery_lines, document_lines, invoices, return_lines};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use ordo_sales_docs::lines::{DocKind, DocTax, HeaderPricing, LineRow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::Date;
use validator::Validate;

use crate::allocations::{self, Allocation};
use crate::invoices::{self as bill, Invoice, InvoiceKind, InvoiceRow};
use crate::write;

/// `POST /invoices/{id}/credit-notes`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteRequest {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    /// Credit everything still creditable, shipping included (`lines` must be empty).
    #[serde(default)]
    pub full: bool,
    #[serde(default)]
    #[validate(length(max = 500), nested)]
    #[schema(max_items = 500)]
    pub lines: Vec<CreditLine>,
}

/// One invoice line to credit: a quantity (its share of the line's amounts), or a net
/// amount (a price correction; tax at the line's rate), or without either the line's
/// creditable rest.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditLine {
    pub invoice_line_id: i64,
    /// In the line's unit.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Option<Quantity>,
    /// Net amount, in the invoice currency.
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Option<Money>,
}

struct Credit {
    line: LineRow,
    base: i64,
    net: i64,
    tax: i64,
    discount: i64,
}

fn posted_invoice(row: &InvoiceRow) -> Result<()> {
    if row.kind()? != InvoiceKind::Invoice {
        return Err(DomainError::rule(
            "not_an_invoice",
            format!("{} is a credit note: credit the invoice", row.number),
        ));
    }
    if row.is_draft() {
        return Err(DomainError::conflict(
            "not_posted",
            format!("invoice {} is a draft: change or delete it instead of crediting it", row.number),
        ));
    }
    Ok(())
}

pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    invoice_id: i64,
    input: CreditNoteRequest,
    base: Currency,
) -> Result<Invoice> {
    let inv = bill::for_write(conn, caller, invoice_id, None)?;
    posted_invoice(&inv)?;
    if input.full != input.lines.is_empty() {
        return Err(DomainError::field(
            "lines",
            "full_or_lines",
            "give either `full: true` or the lines to credit, not both and not neither",
        ));
    }
    let ls = bill::load_lines(conn, &inv)?;
    let dp = u32::from(inv.currency()?.minor_units());
    let credits = if input.full {
        ls.iter().filter(|l| l.billed_quantity < l.base_quantity || l.billed_net < l.net).map(rest_of).collect()
    } else {
        let by_id: HashMap<i64, &LineRow> = ls.iter().map(|l| (l.id, l)).collect();
        let mut out = vec![];
        let mut errs = vec![];
        for (n, c) in input.lines.iter().enumerate() {
            let field = format!("lines[{n}]");
            let Some(l) = by_id.get(&c.invoice_line_id) else {
                errs.push(FieldError::new(
                    format!("{field}.invoice_line_id"),
                    "not_found",
                    "not a line of this invoice",
                ));
                continue;
            };
            match credit_of(l, c, dp) {
                Ok(x) => out.push(x),
                Err(msg) => errs.push(FieldError::new(field, "exceeds_invoiced", msg)),
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Rule {
                code: "exceeds_invoiced",
                detail: "a credit note credits no more than was invoiced and not yet credited".into(),
                errors: errs,
            });
        }
        out
    };
    let shipping = if input.full { shipping_rest(conn, &inv, &ls)? } else { None };
    if credits.is_empty() && shipping.is_none() {
        return Err(DomainError::rule("nothing_to_credit", format!("invoice {} is fully credited", inv.number)));
    }
    write_credit_note(conn, caller, &inv, credits, shipping, input.reason, None, base)
}

/// A line's whole creditable rest.
fn rest_of(l: &LineRow) -> Credit {
    Credit {
        line: l.clone(),
        base: l.base_quantity - l.billed_quantity,
        net: l.net - l.billed_net,
        tax: l.tax - l.billed_tax,
        discount: if l.billed_quantity == 0 { l.discount } else { 0 },
    }
}

fn credit_of(l: &LineRow, c: &CreditLine, dp: u32) -> std::result::Result<Credit, String> {
    let pct = Rate::from_scaled(l.tax_percent).value();
    let m = |v: Decimal| Money::new(v).map(|m| m.to_scaled()).map_err(|e| e.to_string());
    let left = Money::from_scaled(l.net - l.billed_net);
    match (c.quantity, c.amount) {
        (Some(_), Some(_)) => Err("give a quantity or an amount, not both".into()),
        (None, None) => {
            if l.net - l.billed_net <= 0 && l.billed_quantity >= l.base_quantity {
                return Err(format!("line {} is fully credited", l.position));
            }
            Ok(rest_of(l))
        }
        (Some(q), None) => {
            let base = bill::to_base(l, q);
            let rest_q = l.base_quantity - l.billed_quantity;
            if base > rest_q {
                return Err(format!("line {} has {} left to credit", l.position, Quantity::from_scaled(rest_q)));
            }
            if base == rest_q {
                return Ok(rest_of(l));
            }
            let share = Decimal::from(base) / Decimal::from(l.base_quantity.max(1));
            let net = round_to(Money::from_scaled(l.net).value() * share, dp).min(left.value());
            let tax = round_to(net * pct / Decimal::from(100), dp);
            Ok(Credit { line: l.clone(), base, net: m(net)?, tax: m(tax)?, discount: 0 })
        }
        (None, Some(a)) => {
            if a.to_scaled() > l.net - l.billed_net {
                return Err(format!("line {} has {} net left to credit", l.position, left));
            }
            let a = round_to(a.value(), dp);
            let tax = round_to(a * pct / Decimal::from(100), dp);
            Ok(Credit { line: l.clone(), base: 0, net: m(a)?, tax: m(tax)?, discount: 0 })
        }
    }
}

/// The invoice's shipping not yet credited by earlier credit notes.
fn shipping_rest(conn: &mut DbConnection, inv: &InvoiceRow, ls: &[LineRow]) -> Result<Option<DocTax>> {
    let p = HeaderPricing::parse(&inv.pricing, &inv.number)?;
    let Some(mut part) = bill::shipping_part(&p, ls) else { return Ok(None) };
    for cn in bill::credit_notes_of(conn, inv.id)? {
        let e = HeaderPricing::parse(&cn.pricing, &cn.number)?;
        let cls = bill::load_lines(conn, &cn)?;
        if let Some(s) = bill::shipping_part(&e, &cls) {
            part.net = Money::from_scaled(part.net.to_scaled() - s.net.to_scaled());
            part.tax = Money::from_scaled(part.tax.to_scaled() - s.tax.to_scaled());
        }
    }
    Ok((part.net.to_scaled() > 0).then_some(part))
}

#[allow(clippy::too_many_arguments)]
fn write_credit_note(
    conn: &mut DbConnection,
    caller: &Caller,
    inv: &InvoiceRow,
    credits: Vec<Credit>,
    shipping: Option<DocTax>,
    reason: String,
    return_id: Option<i64>,
    base: Currency,
) -> Result<Invoice> {
    let mut rows = Vec::with_capacity(credits.len());
    for c in &credits {
        let l = &c.line;
        let n = diesel::update(
            document_lines::table
                .filter(document_lines::id.eq(l.id))
                .filter(document_lines::billed_quantity.eq(l.billed_quantity))
                .filter(document_lines::billed_net.eq(l.billed_net))
                .filter((document_lines::billed_quantity + c.base).le(document_lines::base_quantity))
                .filter((document_lines::billed_net + c.net).le(document_lines::net)),
        )
        .set((
            document_lines::billed_quantity.eq(document_lines::billed_quantity + c.base),
            document_lines::billed_net.eq(document_lines::billed_net + c.net),
            document_lines::billed_tax.eq(document_lines::billed_tax + c.tax),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(DomainError::conflict(
                "concurrent_credit",
                format!("line {} of invoice {} was credited meanwhile; re-read and retry", l.position, inv.number),
            ));
        }
        let mut r = l.clone();
        r.id = 0;
        r.quantity = bill::from_base(l, c.base);
        r.base_quantity = c.base;
        r.net = c.net;
        r.tax = c.tax;
        r.gross = c.net + c.tax;
        r.discount = c.discount;
        if c.base == 0 {
            r.unit_price = 0;
        }
        r.billed_quantity = 0;
        r.billed_net = 0;
        r.billed_tax = 0;
        r.source_line_id = Some(l.id);
        r.pricing =
            serde_json::json!({"source": "credit", "locked_from": inv.number, "invoice_line_id": l.id}).to_string();
        rows.push(r);
    }
    let currency = inv.currency()?;
    let rate = bill::base_rate(conn, currency, base, now().date())?;
    let pricing =
        bill::totals_of(&rows, shipping.as_ref(), base, rate, vec![format!("Credits invoice {}.", inv.number)])?;
    let gross = pricing.totals.gross.to_scaled();
    let n = diesel::update(
        invoices::table.filter(invoices::id.eq(inv.id)).filter((invoices::credited + gross).le(invoices::gross)),
    )
    .set(invoices::credited.eq(invoices::credited + gross))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::Rule {
            code: "exceeds_invoiced",
            detail: format!(
                "invoice {} has {} gross left to credit; this credit note would be {}",
                inv.number,
                Money::from_scaled(inv.gross - inv.credited),
                pricing.totals.gross
            ),
            errors: vec![FieldError::new("lines", "exceeds_invoiced", "more than the invoice has left to credit")],
        });
    }
    let c = ordo_crm::scope::customer(conn, ordo_core::Scope::All, inv.customer_id)?.to_model()?;
    let mut row = bill::blank(conn, InvoiceKind::CreditNote, &c)?;
    row.currency = inv.currency.clone();
    row.contact_id = inv.contact_id;
    row.payment_terms_days = 0;
    row.price_list_id = inv.price_list_id;
    row.sales_person_id = inv.sales_person_id;
    row.sales_partner_id = inv.sales_partner_id;
    row.territory_id = inv.territory_id;
    row.campaign_id = inv.campaign_id;
    row.sales_order_id = inv.sales_order_id;
    row.customer_po = inv.customer_po.clone();
    row.credited_invoice_id = Some(inv.id);
    row.return_id = return_id;
    row.reason = Some(reason);
    let v = bill::insert(conn, caller, row, &pricing, rows)?;
    audit::record(
        conn,
        caller,
        bill::INVOICE,
        inv.id,
        "credit",
        &serde_json::json!({"credit_note_id": v.id, "credit_note": v.draft_number, "gross": v.totals.gross}),
    )?;
    Ok(v)
}

/// `POST /returns/{id}/credit-note`: credits what a received return brought back, on
/// the invoice that billed it.
pub fn from_return(conn: &mut DbConnection, caller: &Caller, return_id: i64, base: Currency) -> Result<Invoice> {
    let r = ordo_fulfillment::deliveries::find_return(conn, caller, return_id)?;
    write(caller)?;
    if r.status != "received" {
        return Err(DomainError::conflict(
            "return_not_received",
            format!("return {} is {}: only received returns are credited", r.number, r.status),
        ));
    }
    let taken: i64 = invoices::table.filter(invoices::return_id.eq(return_id)).count().get_result(conn)?;
    if taken > 0 {
        return Err(DomainError::conflict(
            "already_credited",
            format!("return {} has a credit note already", r.number),
        ));
    }
    let rls: Vec<(i64, i64)> = return_lines::table
        .filter(return_lines::return_id.eq(return_id))
        .select((return_lines::delivery_line_id, return_lines::quantity))
        .load(conn)?;
    let dl_ids: Vec<i64> = rls.iter().map(|x| x.0).collect();
    let order_line_of: HashMap<i64, i64> = delivery_lines::table
        .filter(delivery_lines::id.eq_any(&dl_ids))
        .select((delivery_lines::id, delivery_lines::order_line_id))
        .load(conn)?
        .into_iter()
        .collect();
    let order_lines: Vec<i64> = order_line_of.values().copied().collect();
    // Posted invoice lines billing those order lines; a delivery's own invoice first.
    let billed: Vec<(LineRow, String)> = document_lines::table
        .inner_join(invoices::table.on(invoices::id.eq(document_lines::doc_id)))
        .filter(document_lines::doc_kind.eq(DocKind::Invoice.as_str()))
        .filter(document_lines::source_line_id.eq_any(&order_lines))
        .filter(invoices::status.eq(bill::POSTED))
        .order(invoices::id.desc())
        .select((LineRow::as_select(), invoices::number))
        .load(conn)?;
    let mut credits: Vec<(i64, i64)> = vec![];
    let mut errs = vec![];
    for (n, (dl, q)) in rls.iter().enumerate() {
        let ol = order_line_of.get(dl).copied();
        let hit = billed.iter().find(|(l, _)| l.delivery_line_id == Some(*dl)).or_else(|| {
            billed.iter().find(|(l, _)| l.source_line_id == ol && l.base_quantity - l.billed_quantity >= *q)
        });
        match hit {
            Some((l, _)) => credits.push((l.id, *q)),
            None => errs.push(FieldError::new(
                format!("lines[{n}]"),
                "not_invoiced",
                "no posted invoice bills this returned line: nothing to credit",
            )),
        }
    }
    if !errs.is_empty() {
        return Err(DomainError::Rule {
            code: "not_invoiced",
            detail: format!("return {} is not invoiced", r.number),
            errors: errs,
        });
    }
    let invoice_ids: std::collections::BTreeSet<i64> =
        billed.iter().filter(|(l, _)| credits.iter().any(|c| c.0 == l.id)).map(|(l, _)| l.doc_id).collect();
    let [invoice_id] = invoice_ids.into_iter().collect::<Vec<_>>()[..] else {
        return Err(DomainError::rule(
            "return_spans_invoices",
            format!(
                "return {} was billed on several invoices: credit each with POST /invoices/{{id}}/credit-notes",
                r.number
            ),
        ));
    };
    let inv = bill::for_write(conn, caller, invoice_id, None)?;
    posted_invoice(&inv)?;
    let ls = bill::load_lines(conn, &inv)?;
    let dp = u32::from(inv.currency()?.minor_units());
    let mut out = vec![];
    for (line_id, q) in credits {
        let Some(l) = ls.iter().find(|l| l.id == line_id) else { continue };
        let want = CreditLine {
            invoice_line_id: line_id,
            quantity: Some(Quantity::from_scaled(bill::from_base(l, q))),
            amount: None,
        };
        out.push(credit_of(l, &want, dp).map_err(|msg| DomainError::rule("exceeds_invoiced", msg))?);
    }
    write_credit_note(
        conn,
        caller,
        &inv,
        out,
        None,
        format!("Return {}: {}", r.number, r.reason),
        Some(return_id),
        base,
    )
}

/// On posting a credit note: it settles the invoice it corrects as far as that is open.
pub(crate) fn apply_on_post(
    conn: &mut DbConnection,
    caller: &Caller,
    cn: &InvoiceRow,
    date: Date,
    base: Currency,
) -> Result<()> {
    let Some(inv_id) = cn.credited_invoice_id else { return Ok(()) };
    let inv: InvoiceRow = invoices::table.find(inv_id).select(InvoiceRow::as_select()).first(conn)?;
    let amount = inv.open().min(cn.gross);
    if amount <= 0 {
        return Ok(());
    }
    apply(conn, caller, cn, &inv, amount, date, base)?;
    Ok(())
}

/// Settles `amount` of `inv` with the credit note `cn` (same currency).
fn apply(
    conn: &mut DbConnection,
    caller: &Caller,
    cn: &InvoiceRow,
    inv: &InvoiceRow,
    amount: i64,
    date: Date,
    base: Currency,
) -> Result<Allocation> {
    allocations::settle(conn, inv.id, &inv.number, amount, "amount")?;
    let n = diesel::update(
        invoices::table.filter(invoices::id.eq(cn.id)).filter((invoices::settled + amount).le(invoices::gross)),
    )
    .set(invoices::settled.eq(invoices::settled + amount))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::Rule {
            code: "exceeds_open_amount",
            detail: format!("credit note {} has less than {} left", cn.number, Money::from_scaled(amount)),
            errors: vec![FieldError::new("amount", "exceeds_open_amount", "more than the credit note has left")],
        });
    }
    let fx = allocations::fx_difference(amount, inv.base_rate, amount, cn.base_rate, base);
    let row = allocations::new_row(
        caller,
        allocations::CREDIT_NOTE,
        None,
        Some(cn.id),
        Some(inv.id),
        inv.customer_id,
        amount,
        amount,
        Rate::from_scaled(100_000_000).to_scaled(),
        fx,
        date,
    );
    let saved = allocations::insert(conn, &[row])?;
    Ok(saved[0].to_model())
}

/// `POST /invoices/{id}/apply`: a posted credit note's rest settles another open
/// invoice of the same customer and currency.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    pub invoice_id: i64,
    /// Default: as much as both have open.
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Option<Money>,
}

pub fn apply_to(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: ApplyRequest,
    base: Currency,
) -> Result<Invoice> {
    let cn = bill::for_write(conn, caller, id, if_match)?;
    posted_credit_note(&cn)?;
    let inv = bill::find(conn, caller, input.invoice_id)
        .map_err(|_| DomainError::reference_not_found("invoice", "invoice_id", input.invoice_id))?;
    if inv.kind()? != InvoiceKind::Invoice
        || inv.is_draft()
        || inv.customer_id != cn.customer_id
        || inv.currency != cn.currency
    {
        return Err(DomainError::field(
            "invoice_id",
            "not_applicable",
            "a credit note applies to a posted invoice of the same customer and currency",
        ));
    }
    let amount = match input.amount {
        Some(a) => a.to_scaled(),
        None => cn.open().min(inv.open()),
    };
    if amount <= 0 {
        return Err(DomainError::rule("nothing_to_apply", "the credit note or the invoice has nothing open"));
    }
    let a = apply(conn, caller, &cn, &inv, amount, now().date(), base)?;
    audit::record(conn, caller, bill::INVOICE, id, "apply", &to_json(&a))?;
    bill::get(conn, caller, id)
}

fn posted_credit_note(cn: &InvoiceRow) -> Result<()> {
    if cn.kind()? != InvoiceKind::CreditNote {
        return Err(DomainError::rule("not_a_credit_note", format!("{} is an invoice", cn.number)));
    }
    if cn.is_draft() {
        return Err(DomainError::conflict(
            "not_posted",
            format!("credit note {} is a draft: post it first", cn.number),
        ));
    }
    Ok(())
}

/// `POST /invoices/{id}/refund`: pays a posted credit note's rest back to the customer.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Default: everything left.
    #[validate(custom(function = "ordo_core::validate::positive_money"))]
    pub amount: Option<Money>,
    /// Default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
}

pub fn refund(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: RefundRequest,
) -> Result<Invoice> {
    let cn = bill::for_write(conn, caller, id, if_match)?;
    posted_credit_note(&cn)?;
    let amount = input.amount.map(|a| a.to_scaled()).unwrap_or(cn.open());
    let n = diesel::update(
        invoices::table
            .filter(invoices::id.eq(cn.id))
            .filter(invoices::settled.ge(0))
            .filter((invoices::settled + amount).le(invoices::gross)),
    )
    .set(invoices::settled.eq(invoices::settled + amount))
    .execute(conn)?;
    if n == 0 || amount <= 0 {
        return Err(DomainError::Rule {
            code: "exceeds_open_amount",
            detail: format!("credit note {} has {} left to refund", cn.number, Money::from_scaled(cn.open())),
            errors: vec![FieldError::new("amount", "exceeds_open_amount", "more than the credit note has left")],
        });
    }
    let row = allocations::new_row(
        caller,
        allocations::REFUND,
        None,
        Some(cn.id),
        None,
        cn.customer_id,
        amount,
        amount,
        Rate::from_scaled(100_000_000).to_scaled(),
        0,
        input.date.unwrap_or(now().date()),
    );
    let saved = allocations::insert(conn, &[row])?;
    audit::record(conn, caller, bill::INVOICE, id, "refund", &to_json(&saved[0].to_model()))?;
    bill::get(conn, caller, id)
}
