//! Invoices and credit notes share one header table (`kind`) and `document_lines`.
//! Lifecycle `draft → posted`, with `partially_paid | paid` and `overdue` derived from
//! what is settled and the due date. Only drafts change; posting fixes the legal
//! number, the dates, the FX rate and the base-currency amounts for good.
//!
//! Invoice sources: a sales order (what is not invoiced yet, or chosen lines), a
//! shipped delivery, every shipped-not-invoiced delivery line of a customer up to a
//! date (collective), or lines priced by the engine (direct). An order line is never
//! invoiced twice: the claim is a conditional update on the line's invoiced counter
//! at the value this request read, so of two concurrent claims one gets 409.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{to_json, Removal};
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Page, PageRequest, Quantity, Rate, Result};
use ordo_crm::model::InvoicingPolicy;
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{
    customers, deliveries, delivery_lines, document_lines, invoices, order_line_stock, price_lists, sales_orders,
};
use ordo_db::{series, DbConnection};
use ordo_pricing::engine::round_to;
use ordo_sales_docs::core::{self, Document, LineChange};
use ordo_sales_docs::docs::{self, DOC_CUSTOMER};
use ordo_sales_docs::lines::{self, DocKind, DocTax, DocTotals, HeaderPricing, Line, LineInput, LineRow, PricingLine};
use ordo_sales_docs::orders::OrderRow;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::{numbering, read, write};

pub const INVOICE: &str = "invoice";
pub const CREDIT_NOTE: &str = "credit_note";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    CreditNote,
}

impl InvoiceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceKind::Invoice => INVOICE,
            InvoiceKind::CreditNote => CREDIT_NOTE,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Invoice, Self::CreditNote].into_iter().find(|k| k.as_str() == s)
    }
    pub fn doc_kind(&self) -> DocKind {
        match self {
            InvoiceKind::Invoice => DocKind::Invoice,
            InvoiceKind::CreditNote => DocKind::CreditNote,
        }
    }
    fn label(&self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "invoice",
            InvoiceKind::CreditNote => "credit note",
        }
    }
}

/// Where an invoice or credit note stands. Stored are only `draft` and `posted`; the
/// rest follows from the settled amount: for a credit note, `paid` means fully applied
/// to invoices or refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Posted,
    PartiallyPaid,
    Paid,
}

impl InvoiceStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Posted => "posted",
            Self::PartiallyPaid => "partially_paid",
            Self::Paid => "paid",
        }
    }
}

pub const DRAFT: &str = "draft";
pub const POSTED: &str = "posted";

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = invoices, treat_none_as_null = true)]
pub struct InvoiceRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub kind: String,
    pub number: String,
    pub draft_number: String,
    pub fiscal_year: Option<i32>,
    pub sequence_no: Option<i64>,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub currency: String,
    pub doc_date: Date,
    pub due_date: Option<Date>,
    pub payment_terms_days: i32,
    pub price_list_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub credited_invoice_id: Option<i64>,
    pub return_id: Option<i64>,
    pub customer_po: Option<String>,
    pub notes: Option<String>,
    pub reason: Option<String>,
    pub status: String,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub base_rate: i64,
    pub base_net: i64,
    pub base_tax: i64,
    pub base_gross: i64,
    /// Changed by allocations' conditional updates only.
    #[diesel(skip_update)]
    pub settled: i64,
    #[diesel(skip_update)]
    pub credited: i64,
    pub pricing: String,
    pub posted_at: Option<PrimitiveDateTime>,
    pub posted_by: Option<String>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// An invoice or credit note. Lists leave `lines` out.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    pub id: i64,
    pub kind: InvoiceKind,
    /// The legal number once posted (`INV-2026-000001`, gap-free per series and year);
    /// until then the draft reference.
    pub number: String,
    /// The reference the document had as a draft (`DRAFT-000042`).
    pub draft_number: String,
    pub status: InvoiceStatus,
    /// Posted, not fully settled, and past its due date (as of today).
    pub overdue: bool,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub currency: Currency,
    /// The invoice date: fixed when posted.
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Invoice date + payment terms; set when posted.
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<Date>,
    pub payment_terms_days: i32,
    pub price_list_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub campaign_id: Option<i64>,
    /// The order this invoice bills (one order per invoice; collective invoices none).
    pub sales_order_id: Option<i64>,
    pub delivery_id: Option<i64>,
    /// Credit notes: the invoice they correct.
    pub credited_invoice_id: Option<i64>,
    /// Credit notes: the return they credit.
    pub return_id: Option<i64>,
    pub customer_po: Option<String>,
    pub notes: Option<String>,
    /// Credit notes: why.
    pub reason: Option<String>,
    /// Totals in the document currency; the base-currency amounts are at `base_rate`,
    /// fixed when posted (a draft shows today's rate).
    pub totals: DocTotals,
    /// Paid (invoices) or applied and refunded (credit notes) so far.
    pub settled: Money,
    /// `totals.gross` − `settled`.
    pub open_amount: Money,
    /// Invoices: gross amount of the credit notes correcting it (drafts included).
    pub credited: Money,
    pub explanation: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<Line>>,
    /// With `?expand=`: the customer, contact, owner and sales person, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<ordo_sales_docs::expand::Expanded>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub posted_at: Option<OffsetDateTime>,
    pub posted_by: Option<String>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl InvoiceRow {
    pub fn kind(&self) -> Result<InvoiceKind> {
        InvoiceKind::parse(&self.kind).ok_or_else(|| DomainError::Internal(format!("invoice {}: kind", self.id)))
    }
    pub fn currency(&self) -> Result<Currency> {
        Currency::from_code(&self.currency)
            .ok_or_else(|| DomainError::Internal(format!("invoice {}: currency", self.id)))
    }
    pub fn is_draft(&self) -> bool {
        self.status == DRAFT
    }
    pub fn open(&self) -> i64 {
        self.gross - self.settled
    }
    pub fn status(&self) -> InvoiceStatus {
        if self.is_draft() {
            InvoiceStatus::Draft
        } else if self.settled == 0 {
            InvoiceStatus::Posted
        } else if self.settled < self.gross {
            InvoiceStatus::PartiallyPaid
        } else {
            InvoiceStatus::Paid
        }
    }
    pub fn to_model(&self, lines: Option<&[LineRow]>) -> Result<Invoice> {
        let pricing = HeaderPricing::parse(&self.pricing, &self.number)?;
        let today = now().date();
        Ok(Invoice {
            id: self.id,
            kind: self.kind()?,
            number: self.number.clone(),
            draft_number: self.draft_number.clone(),
            status: self.status(),
            overdue: !self.is_draft() && self.open() > 0 && self.due_date.is_some_and(|d| d < today),
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            currency: self.currency()?,
            date: self.doc_date,
            due_date: self.due_date,
            payment_terms_days: self.payment_terms_days,
            price_list_id: self.price_list_id,
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            territory_id: self.territory_id,
            campaign_id: self.campaign_id,
            sales_order_id: self.sales_order_id,
            delivery_id: self.delivery_id,
            credited_invoice_id: self.credited_invoice_id,
            return_id: self.return_id,
            customer_po: self.customer_po.clone(),
            notes: self.notes.clone(),
            reason: self.reason.clone(),
            totals: pricing.totals,
            settled: Money::from_scaled(self.settled),
            open_amount: Money::from_scaled(self.open()),
            credited: Money::from_scaled(self.credited),
            explanation: pricing.explanation,
            lines: lines.map(|ls| ls.iter().map(LineRow::to_model).collect::<Result<Vec<_>>>()).transpose()?,
            expanded: None,
            posted_at: self.posted_at.map(|t| t.assume_utc()),
            posted_by: self.posted_by.clone(),
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
    /// What the engine prices a direct invoice's lines from.
    pub fn pricing_header(&self) -> Result<lines::PricingHeader> {
        Ok(lines::PricingHeader {
            customer_id: self.customer_id,
            currency: self.currency()?,
            date: self.doc_date,
            price_list_id: self.price_list_id,
            coupon_code: None,
            campaign_id: self.campaign_id,
            territory_id: self.territory_id,
            shipping_country: None,
        })
    }
    fn set_totals(&mut self, t: &DocTotals) {
        self.net = t.net.to_scaled();
        self.tax = t.tax.to_scaled();
        self.gross = t.gross.to_scaled();
        self.base_rate = t.base_rate.to_scaled();
        self.base_net = t.base_net.to_scaled();
        self.base_tax = t.base_tax.to_scaled();
        self.base_gross = t.base_gross.to_scaled();
    }
}

// ---- reading ------------------------------------------------------------------------

/// The invoice or credit note, if the caller may see its customer (404 otherwise).
pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<InvoiceRow> {
    core::find(conn, caller, id)
}

ordo_sales_docs::document_table!(InvoiceRow, invoices, entity: INVOICE, noun: "invoice", read: BillingRead,
    write: BillingWrite, model: Invoice, status: InvoiceStatus, {
    fn label(&self) -> &'static str {
        self.kind().map(|k| k.label()).unwrap_or("invoice")
    }
    fn doc_kind(&self) -> DocKind {
        self.kind().map(|k| k.doc_kind()).unwrap_or(DocKind::Invoice)
    }
    fn status(&self) -> Result<InvoiceStatus> {
        Ok(InvoiceRow::status(self))
    }
    /// Stored are `draft` and `posted`; the rest follows from what is settled.
    fn set_status(&mut self, to: InvoiceStatus, _reason: Option<String>) {
        self.status = if to == InvoiceStatus::Draft { DRAFT } else { POSTED }.into();
    }
    fn archived(&self) -> bool {
        false
    }
    fn is_draft(&self) -> Result<bool> {
        Ok(InvoiceRow::is_draft(self))
    }
    fn not_draft(&self) -> Result<DomainError> {
        Ok(DomainError::conflict(
            "already_posted",
            format!("{} {} is posted: it is changed only by a credit note", self.kind()?.label(), self.number),
        ))
    }
    fn model(&self, lines: Option<&[LineRow]>) -> Result<Invoice> {
        self.to_model(lines)
    }
});

pub fn load_lines(conn: &mut DbConnection, row: &InvoiceRow) -> Result<Vec<LineRow>> {
    lines::load(conn, row.kind()?.doc_kind(), row.id)
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Invoice> {
    core::get::<InvoiceRow>(conn, caller, id)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<InvoiceKind>,
    pub customer_id: Option<i64>,
    pub status: Option<InvoiceStatus>,
    /// Posted, open and due before today.
    pub overdue: Option<bool>,
    pub sales_order_id: Option<i64>,
    pub number: Option<String>,
    pub search: ordo_sales_docs::docs::DocSearch,
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Invoice>> {
    read(caller)?;
    let today = now().date();
    let build = || {
        let mut q = invoices::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(invoices::customer_id)))
            .select((InvoiceRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = ordo_sales_docs::scoped!(q, caller, invoices::customer_id);
        q = ordo_sales_docs::doc_search!(q, &f.search, number: invoices::number, customer: invoices::customer_id,
            date: invoices::doc_date, updated: invoices::updated_at, po: invoices::customer_po);
        if let Some(k) = f.kind {
            q = q.filter(invoices::kind.eq(k.as_str()));
        }
        if let Some(c) = f.customer_id {
            q = q.filter(invoices::customer_id.eq(c));
        }
        if let Some(o) = f.sales_order_id {
            q = q.filter(invoices::sales_order_id.eq(o));
        }
        if let Some(n) = &f.number {
            q = q.filter(invoices::number.eq(n.clone()));
        }
        q = match f.status {
            None => q,
            Some(InvoiceStatus::Draft) => q.filter(invoices::status.eq(DRAFT)),
            Some(InvoiceStatus::Posted) => q.filter(invoices::status.eq(POSTED)).filter(invoices::settled.eq(0)),
            Some(InvoiceStatus::PartiallyPaid) => q
                .filter(invoices::status.eq(POSTED))
                .filter(invoices::settled.gt(0))
                .filter(invoices::settled.lt(invoices::gross)),
            Some(InvoiceStatus::Paid) => {
                q.filter(invoices::status.eq(POSTED)).filter(invoices::settled.ge(invoices::gross))
            }
        };
        match f.overdue {
            Some(true) => q
                .filter(invoices::status.eq(POSTED))
                .filter(invoices::settled.lt(invoices::gross))
                .filter(invoices::due_date.lt(today)),
            Some(false) => q.filter(
                invoices::status.ne(POSTED).or(invoices::settled.ge(invoices::gross)).or(invoices::due_date.ge(today)),
            ),
            None => q,
        }
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = ordo_sales_docs::doc_page!(conn, build(), page, invoices, InvoiceRow, date: doc_date, total: gross);
    rows.total = total;
    let mut data: Vec<Invoice> = rows.data.iter().map(|r| r.0.to_model(None)).collect::<Result<_>>()?;
    ordo_sales_docs::expand::apply(conn, &mut data, &f.search.expand)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

ordo_sales_docs::expandable!(Invoice, lines: |d| ordo_sales_docs::expand::line_slots(d.lines.as_mut()),
    contact: contact_id, sales_person: sales_person_id);

pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    core::history::<InvoiceRow>(conn, caller, id, page)
}

// ---- writing: shared ------------------------------------------------------------------

/// The invoice, locked (PostgreSQL) and visible, at the version the caller read.
pub fn for_write(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<InvoiceRow> {
    core::for_write(conn, caller, id, if_match)
}

/// [`for_write`], and a draft (409 `already_posted` otherwise).
pub fn editable(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<InvoiceRow> {
    core::editable(conn, caller, id, if_match)
}

/// A blank draft of `kind` for the customer, with its defaults.
pub(crate) fn blank(conn: &mut DbConnection, kind: InvoiceKind, c: &ordo_crm::model::Customer) -> Result<InvoiceRow> {
    let ts = now();
    let draft = series::next_number(conn, "invoice_draft")?;
    Ok(InvoiceRow {
        id: 0,
        kind: kind.as_str().into(),
        number: draft.clone(),
        draft_number: draft,
        fiscal_year: None,
        sequence_no: None,
        customer_id: c.id,
        contact_id: None,
        currency: c.currency.code().into(),
        doc_date: ts.date(),
        due_date: None,
        payment_terms_days: c.payment_terms_days,
        price_list_id: c.price_list_id,
        sales_person_id: c.sales_person_id,
        sales_partner_id: c.sales_partner_id,
        territory_id: c.territory_id,
        campaign_id: None,
        sales_order_id: None,
        delivery_id: None,
        credited_invoice_id: None,
        return_id: None,
        customer_po: None,
        notes: None,
        reason: None,
        status: DRAFT.into(),
        net: 0,
        tax: 0,
        gross: 0,
        base_rate: Rate::from_scaled(100_000_000).to_scaled(),
        base_net: 0,
        base_tax: 0,
        base_gross: 0,
        settled: 0,
        credited: 0,
        pricing: "{}".into(),
        posted_at: None,
        posted_by: None,
        version: 1,
        created_at: ts,
        updated_at: ts,
    })
}

/// Inserts a draft with its lines (already complete rows), journal and audit.
pub(crate) fn insert(
    conn: &mut DbConnection,
    caller: &Caller,
    mut row: InvoiceRow,
    pricing: &HeaderPricing,
    line_rows: Vec<LineRow>,
) -> Result<Invoice> {
    row.set_totals(&pricing.totals);
    row.pricing = ordo_core::util::json_text(pricing);
    let saved = row.insert(conn)?;
    let kind = saved.kind()?;
    let line_rows: Vec<LineRow> = line_rows
        .into_iter()
        .enumerate()
        .map(|(n, mut l)| {
            l.doc_kind = kind.doc_kind().as_str().into();
            l.doc_id = saved.id;
            l.position = n as i32 + 1;
            l
        })
        .collect();
    let stored = ordo_db::insert_batch!(conn, document_lines::table, &line_rows,
        returning document_lines::all_columns => LineRow);
    let v = saved.to_model(Some(&stored))?;
    audit::record(conn, caller, INVOICE, v.id, "create", &to_json(&v))?;
    Ok(v)
}

/// Totals of lines that carry their own amounts (billed from an order, or credited),
/// plus an optional shipping part: per tax rate, converted to the base currency at
/// `rate` and rounded per rate, exactly as priced documents do.
pub(crate) fn totals_of(
    rows: &[LineRow],
    shipping: Option<&DocTax>,
    base: Currency,
    rate: Decimal,
    explanation: Vec<String>,
) -> Result<HeaderPricing> {
    let m = |v: Decimal| -> Result<Money> {
        Money::new(v)
            .map_err(|e| ordo_core::error::amount_out_of_range("lines", format!("an amount is out of range: {e}")))
    };
    let mut by_rate: BTreeMap<(Option<i64>, i64), (i64, i64)> = BTreeMap::new();
    for l in rows {
        let e = by_rate.entry((l.tax_rate_id, l.tax_percent)).or_default();
        e.0 += l.net;
        e.1 += l.tax;
    }
    let shipping_net = shipping.map(|s| s.net.to_scaled()).unwrap_or(0);
    if let Some(s) = shipping {
        let e = by_rate.entry((s.tax_rate_id, s.percent.to_scaled())).or_default();
        e.0 += s.net.to_scaled();
        e.1 += s.tax.to_scaled();
    }
    let bdp = u32::from(base.minor_units());
    let taxes = by_rate
        .into_iter()
        .map(|((id, pct), (n, t))| {
            let (n, t) = (Money::from_scaled(n).value(), Money::from_scaled(t).value());
            Ok(DocTax {
                tax_rate_id: id,
                percent: Rate::from_scaled(pct),
                net: m(n)?,
                tax: m(t)?,
                base_net: m(round_to(n * rate, bdp))?,
                base_tax: m(round_to(t * rate, bdp))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let net: Decimal = taxes.iter().map(|t| t.net.value()).sum();
    let tax: Decimal = taxes.iter().map(|t| t.tax.value()).sum();
    let base_net: Decimal = taxes.iter().map(|t| t.base_net.value()).sum();
    let base_tax: Decimal = taxes.iter().map(|t| t.base_tax.value()).sum();
    let discount: i64 = rows.iter().map(|l| l.discount).sum();
    Ok(HeaderPricing {
        totals: DocTotals {
            net: m(net)?,
            shipping: Money::from_scaled(shipping_net),
            discount: Money::from_scaled(discount),
            tax: m(tax)?,
            gross: m(net + tax)?,
            taxes,
            base_currency: base,
            base_rate: Rate::new(rate).map_err(|e| DomainError::Internal(format!("fx rate: {e}")))?,
            base_net: m(base_net)?,
            base_tax: m(base_tax)?,
            base_gross: m(base_net + base_tax)?,
        },
        shipping_rule_id: None,
        coupon_rule_id: None,
        explanation,
        shipping_orders: vec![],
    })
}

/// Base-currency units per unit of `currency` on `date` (1 for the base currency).
pub fn base_rate(conn: &mut DbConnection, currency: Currency, base: Currency, date: Date) -> Result<Decimal> {
    let set = [currency.code().to_string(), base.code().to_string()].into_iter().collect();
    let fx = ordo_pricing::fx::load(conn, &set, date)?;
    ordo_pricing::fx::rate(&fx, date, currency, base)
}

// ---- direct invoices --------------------------------------------------------------------

/// `POST /invoices`: an invoice without an order, its lines priced by the engine.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceCreate {
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    /// Default: the customer's currency.
    pub currency: Option<Currency>,
    /// Default: the customer's payment terms.
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    /// Default: the customer's price list.
    pub price_list_id: Option<i64>,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub customer_po: Option<String>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    #[validate(length(min = 1, max = 500), nested)]
    #[schema(min_items = 1, max_items = 500)]
    pub lines: Vec<LineInput>,
}

pub fn create(conn: &mut DbConnection, caller: &Caller, input: InvoiceCreate, base: Currency) -> Result<Invoice> {
    create_dated(conn, caller, input, base, now().date())
}

/// A direct invoice priced as of `date` (recurring invoices: their invoice date).
pub fn create_dated(
    conn: &mut DbConnection,
    caller: &Caller,
    input: InvoiceCreate,
    base: Currency,
    date: Date,
) -> Result<Invoice> {
    write(caller)?;
    let overrides: Vec<_> = input.lines.iter().enumerate().map(|(n, l)| (n, l, None)).collect();
    lines::check_overrides(caller, &overrides)?;
    lines::no_call_offs(input.lines.iter().enumerate().map(|(n, l)| (format!("lines[{n}]."), l)))?;
    let c = docs::document_customer(conn, caller, input.customer_id)?;
    docs::check_contact(conn, c.id, input.contact_id)?;
    if let Some(p) = input.price_list_id {
        ordo_db::require_ref!(conn, price_lists, p, "price list", "price_list_id");
    }
    let mut row = blank(conn, InvoiceKind::Invoice, &c)?;
    row.doc_date = date;
    row.contact_id = input.contact_id;
    if let Some(cur) = input.currency {
        row.currency = cur.code().into();
    }
    if let Some(d) = input.payment_terms_days {
        row.payment_terms_days = d;
    }
    row.price_list_id = input.price_list_id.or(row.price_list_id);
    row.customer_po = input.customer_po;
    row.notes = input.notes;
    let header = row.pricing_header()?;
    let pricing_lines: Vec<PricingLine> =
        input.lines.into_iter().map(|input| PricingLine { input, locked: None }).collect();
    let priced = lines::price(conn, caller, &header, &pricing_lines, base, true)?;
    let rows = priced.lines.iter().map(|p| p.row(DocKind::Invoice, 0, 0, 0, None)).collect();
    insert(conn, caller, row, &priced.header, rows)
}

// ---- from orders and deliveries -------------------------------------------------------

/// One order line to bill: `base` base units of it, from a delivery line or not.
#[derive(Debug, Clone)]
struct Claim {
    line: LineRow,
    base: i64,
    delivery_line: Option<(i64, i64)>,
}

/// `POST /sales-orders/{id}/invoice`: chosen lines, or everything invoiceable.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInvoiceRequest {
    /// Lines and quantities (in the line's unit) to invoice; default every line's
    /// invoiceable rest.
    #[serde(default)]
    #[validate(length(max = 500), nested)]
    #[schema(max_items = 500)]
    pub lines: Vec<OrderInvoiceLine>,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInvoiceLine {
    pub order_line_id: i64,
    /// Default: the line's invoiceable rest.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Option<Quantity>,
}

/// What the customer's policy lets an order invoice take of a line: everything on
/// `on_order`, what was delivered on `on_delivery`; `periodic` customers are invoiced
/// collectively only.
fn policy(conn: &mut DbConnection, customer_id: i64) -> Result<InvoicingPolicy> {
    let p: String = customers::table.find(customer_id).select(customers::invoicing_policy).first(conn)?;
    InvoicingPolicy::parse(&p).ok_or_else(|| DomainError::Internal(format!("customer {customer_id}: invoicing policy")))
}

fn policy_refuses(what: &str, p: InvoicingPolicy) -> DomainError {
    DomainError::rule(
        "invoicing_policy",
        format!("the customer is invoiced {}: {what} is not how they are billed", p.as_str().replace('_', " ")),
    )
}

fn billable_order(order: &OrderRow) -> Result<()> {
    if !matches!(order.status.as_str(), "in_execution" | "completed") {
        return Err(DomainError::conflict(
            "order_not_confirmed",
            format!("sales order {} is {}: only confirmed orders are invoiced", order.number, order.status),
        ));
    }
    Ok(())
}

pub fn from_order(
    conn: &mut DbConnection,
    caller: &Caller,
    order_id: i64,
    input: OrderInvoiceRequest,
    base: Currency,
) -> Result<Invoice> {
    ordo_sales_docs::orders::lock(conn, order_id)?;
    let order = ordo_sales_docs::orders::find(conn, caller, order_id)?;
    write(caller)?;
    billable_order(&order)?;
    let pol = policy(conn, order.customer_id)?;
    if pol == InvoicingPolicy::Periodic {
        return Err(policy_refuses("an invoice per order", pol));
    }
    let stored = lines::load(conn, DocKind::SalesOrder, order_id)?;
    // On delivery: a stock line is invoiceable up to what was delivered; lines without
    // stock (services) with the order.
    let delivered: HashMap<i64, i64> = if pol == InvoicingPolicy::OnDelivery {
        order_line_stock::table
            .filter(order_line_stock::sales_order_id.eq(order_id))
            .select((order_line_stock::line_id, order_line_stock::delivered))
            .load(conn)?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let limit = |l: &LineRow| delivered.get(&l.id).copied().unwrap_or(l.base_quantity);
    let mut claims = vec![];
    if input.lines.is_empty() {
        for l in &stored {
            let rest = limit(l) - l.billed_quantity;
            if rest > 0 {
                claims.push(Claim { line: l.clone(), base: rest, delivery_line: None });
            }
        }
        if claims.is_empty() {
            return Err(DomainError::rule(
                "nothing_to_invoice",
                format!("sales order {} has nothing left to invoice", order.number),
            ));
        }
    } else {
        let by_id: HashMap<i64, &LineRow> = stored.iter().map(|l| (l.id, l)).collect();
        let mut errs = vec![];
        for (n, want) in input.lines.iter().enumerate() {
            let field = format!("lines[{n}]");
            let Some(l) = by_id.get(&want.order_line_id) else {
                errs.push(FieldError::new(format!("{field}.order_line_id"), "not_found", "not a line of this order"));
                continue;
            };
            let rest = limit(l) - l.billed_quantity;
            let base_q = match want.quantity {
                Some(q) => to_base(l, q),
                None => rest,
            };
            if base_q <= 0 || base_q > rest {
                errs.push(FieldError::new(
                    format!("{field}.quantity"),
                    "exceeds_invoiceable",
                    format!("line {} has {} invoiceable", l.position, Quantity::from_scaled(rest.max(0))),
                ));
                continue;
            }
            claims.push(Claim { line: (*l).clone(), base: base_q, delivery_line: None });
        }
        if !errs.is_empty() {
            return Err(DomainError::Rule {
                code: "exceeds_invoiceable",
                detail: "more than is left to invoice".into(),
                errors: errs,
            });
        }
    }
    let c = customer_of(conn, order.customer_id)?;
    let mut row = blank(conn, InvoiceKind::Invoice, &c)?;
    copy_order_header(&mut row, &order);
    row.notes = input.notes;
    bill(conn, caller, row, vec![order], claims, base)
}

/// `base` units of the line expressed in the line's own unit, and back.
pub(crate) fn to_base(l: &LineRow, q: Quantity) -> i64 {
    if l.quantity == l.base_quantity || l.quantity == 0 {
        return q.to_scaled();
    }
    let v = q.value() * Decimal::from(l.base_quantity) / Decimal::from(l.quantity);
    Quantity::new(round_to(v, Quantity::SCALE)).map(|x| x.to_scaled()).unwrap_or(i64::MAX)
}
pub(crate) fn from_base(l: &LineRow, base: i64) -> i64 {
    if l.quantity == l.base_quantity || l.base_quantity == 0 {
        return base;
    }
    let v = Decimal::from(base) * Decimal::from(l.quantity) / Decimal::from(l.base_quantity);
    round_to(v, 0).try_into().unwrap_or(i64::MAX)
}

fn customer_of(conn: &mut DbConnection, id: i64) -> Result<ordo_crm::model::Customer> {
    ordo_crm::scope::customer(conn, ordo_core::Scope::All, id)?.to_model()
}

fn copy_order_header(row: &mut InvoiceRow, o: &OrderRow) {
    row.sales_order_id = Some(o.id);
    row.contact_id = o.contact_id;
    row.currency = o.currency.clone();
    row.payment_terms_days = o.payment_terms_days.unwrap_or(row.payment_terms_days);
    row.price_list_id = o.price_list_id;
    row.sales_person_id = o.sales_person_id;
    row.sales_partner_id = o.sales_partner_id;
    row.territory_id = o.territory_id;
    row.campaign_id = o.campaign_id;
    row.customer_po = o.customer_po.clone();
}

/// The part of a line's amounts that `base` units bill: proportional, rounded to the
/// currency per line, and the exact rest when this takes the line's last units, so
/// the invoices of a line add up to it to the cent.
fn portion(l: &LineRow, done: (i64, i64, i64), base: i64, dp: u32) -> Result<(i64, i64, i64)> {
    let (done_q, done_net, done_tax) = done;
    if done_q + base >= l.base_quantity {
        return Ok((l.net - done_net, l.tax - done_tax, l.discount));
    }
    let share = Decimal::from(base) / Decimal::from(l.base_quantity.max(1));
    let net = round_to(Money::from_scaled(l.net).value() * share, dp);
    let tax = round_to(net * Rate::from_scaled(l.tax_percent).value() / Decimal::from(100), dp);
    let discount = round_to(Money::from_scaled(l.discount).value() * share, dp);
    let m = |v: Decimal| Money::new(v).map(|m| m.to_scaled()).map_err(|e| DomainError::Internal(e.to_string()));
    Ok((m(net)?, m(tax)?, m(discount)?))
}

/// Claims the order lines (and delivery lines) and writes the draft invoice billing
/// them, with the orders' shipping on the first invoice of each order.
fn bill(
    conn: &mut DbConnection,
    caller: &Caller,
    row: InvoiceRow,
    orders: Vec<OrderRow>,
    claims: Vec<Claim>,
    base: Currency,
) -> Result<Invoice> {
    let currency = row.currency()?;
    let dp = u32::from(currency.minor_units());
    let numbers: HashMap<i64, String> = orders.iter().map(|o| (o.id, o.number.clone())).collect();
    // Several claims of one line (collective invoices: several deliveries) add up.
    let mut seen: HashMap<i64, (i64, i64, i64)> = HashMap::new();
    let mut line_rows = Vec::with_capacity(claims.len());
    for c in &claims {
        let l = &c.line;
        let done = *seen.entry(l.id).or_insert((l.billed_quantity, l.billed_net, l.billed_tax));
        let (net, tax, discount) = portion(l, done, c.base, dp)?;
        let n = diesel::update(
            document_lines::table
                .filter(document_lines::id.eq(l.id))
                .filter(document_lines::billed_quantity.eq(done.0))
                .filter((document_lines::billed_quantity + c.base).le(document_lines::base_quantity)),
        )
        .set((
            document_lines::billed_quantity.eq(document_lines::billed_quantity + c.base),
            document_lines::billed_net.eq(document_lines::billed_net + net),
            document_lines::billed_tax.eq(document_lines::billed_tax + tax),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(DomainError::conflict(
                "concurrent_invoicing",
                format!("line {} of the order was invoiced meanwhile; re-read and retry", l.position),
            ));
        }
        seen.insert(l.id, (done.0 + c.base, done.1 + net, done.2 + tax));
        if let Some((dl, seen_q)) = c.delivery_line {
            let n = diesel::update(
                delivery_lines::table
                    .filter(delivery_lines::id.eq(dl))
                    .filter(delivery_lines::invoiced_quantity.eq(seen_q)),
            )
            .set(delivery_lines::invoiced_quantity.eq(delivery_lines::invoiced_quantity + c.base))
            .execute(conn)?;
            if n == 0 {
                return Err(DomainError::conflict(
                    "concurrent_invoicing",
                    "a delivery line was invoiced meanwhile; re-read and retry",
                ));
            }
        }
        let mut r = l.clone();
        r.id = 0;
        r.quantity = from_base(l, c.base);
        r.base_quantity = c.base;
        r.net = net;
        r.tax = tax;
        r.gross = net + tax;
        r.discount = discount;
        r.production_state = None;
        r.actual_cost = None;
        r.blanket_line_id = None;
        r.called_off_quantity = 0;
        r.promised_date = None;
        r.promise_source = None;
        r.billed_quantity = 0;
        r.billed_net = 0;
        r.billed_tax = 0;
        r.source_line_id = Some(l.id);
        r.delivery_line_id = c.delivery_line.map(|d| d.0);
        let from = numbers.get(&l.doc_id).cloned().unwrap_or_default();
        r.pricing =
            serde_json::json!({"source": "sales_order", "locked_from": from, "order_line_id": l.id}).to_string();
        line_rows.push(r);
    }
    // Shipping goes on the first invoice of an order, claimed like a line.
    let mut shipping: Option<DocTax> = None;
    let mut shipping_orders = vec![];
    let mut explanation = vec![];
    for o in &orders {
        let p = HeaderPricing::parse(&o.pricing, &o.number)?;
        if p.totals.shipping.to_scaled() == 0 || o.shipping_invoiced {
            continue;
        }
        let n = diesel::update(
            sales_orders::table.filter(sales_orders::id.eq(o.id)).filter(sales_orders::shipping_invoiced.eq(false)),
        )
        .set(sales_orders::shipping_invoiced.eq(true))
        .execute(conn)?;
        if n == 0 {
            continue;
        }
        let ls = lines::load(conn, DocKind::SalesOrder, o.id)?;
        let Some(part) = shipping_part(&p, &ls) else { continue };
        shipping_orders.push(o.id);
        explanation.push(format!("Shipping of {} ({} net) is on this invoice.", o.number, part.net));
        shipping = Some(match shipping {
            None => part,
            Some(mut s) => {
                s.net = Money::from_scaled(s.net.to_scaled() + part.net.to_scaled());
                s.tax = Money::from_scaled(s.tax.to_scaled() + part.tax.to_scaled());
                s
            }
        });
    }
    for o in &orders {
        explanation.push(format!("Lines and prices from sales order {}.", o.number));
    }
    let rate = base_rate(conn, currency, base, row.doc_date)?;
    let mut pricing = totals_of(&line_rows, shipping.as_ref(), base, rate, explanation)?;
    pricing.shipping_orders = shipping_orders;
    insert(conn, caller, row, &pricing, line_rows)
}

/// A document's shipping as a tax group: its net from the totals, its tax what the
/// document's tax leaves after its lines' in the rate group where that remainder sits.
pub(crate) fn shipping_part(p: &HeaderPricing, ls: &[LineRow]) -> Option<DocTax> {
    let ship = p.totals.shipping.to_scaled();
    if ship == 0 {
        return None;
    }
    let mut line_sums: HashMap<(Option<i64>, i64), (i64, i64)> = HashMap::new();
    for l in ls {
        let e = line_sums.entry((l.tax_rate_id, l.tax_percent)).or_default();
        e.0 += l.net;
        e.1 += l.tax;
    }
    let group = p.totals.taxes.iter().find(|t| {
        let (ln, _) = line_sums.get(&(t.tax_rate_id, t.percent.to_scaled())).copied().unwrap_or((0, 0));
        t.net.to_scaled() - ln == ship
    });
    Some(match group {
        Some(t) => {
            let (_, lt) = line_sums.get(&(t.tax_rate_id, t.percent.to_scaled())).copied().unwrap_or((0, 0));
            DocTax {
                tax_rate_id: t.tax_rate_id,
                percent: t.percent,
                net: p.totals.shipping,
                tax: Money::from_scaled(t.tax.to_scaled() - lt),
                base_net: Money::ZERO,
                base_tax: Money::ZERO,
            }
        }
        None => DocTax {
            tax_rate_id: None,
            percent: Rate::from_scaled(0),
            net: p.totals.shipping,
            tax: Money::ZERO,
            base_net: Money::ZERO,
            base_tax: Money::ZERO,
        },
    })
}

/// Posted credit notes and drafts correcting an invoice: (pricing, number, id, kind).
pub(crate) fn credit_notes_of(conn: &mut DbConnection, invoice_id: i64) -> Result<Vec<InvoiceRow>> {
    Ok(invoices::table
        .filter(invoices::credited_invoice_id.eq(invoice_id))
        .select(InvoiceRow::as_select())
        .load(conn)?)
}

/// Shipped delivery lines not fully invoiced, with their order lines.
fn delivery_claims(conn: &mut DbConnection, delivery_ids: &[i64]) -> Result<Vec<Claim>> {
    let dls: Vec<(i64, i64, i64, i64)> = delivery_lines::table
        .filter(delivery_lines::delivery_id.eq_any(delivery_ids))
        .filter(delivery_lines::invoiced_quantity.lt(delivery_lines::quantity))
        .order((delivery_lines::delivery_id.asc(), delivery_lines::id.asc()))
        .select((
            delivery_lines::id,
            delivery_lines::order_line_id,
            delivery_lines::quantity,
            delivery_lines::invoiced_quantity,
        ))
        .load(conn)?;
    let line_ids: Vec<i64> = dls.iter().map(|d| d.1).collect();
    let order_lines: HashMap<i64, LineRow> = document_lines::table
        .filter(document_lines::id.eq_any(&line_ids))
        .select(LineRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let mut out = vec![];
    for (id, line_id, q, invoiced) in dls {
        let Some(l) = order_lines.get(&line_id) else { continue };
        // An order line already invoiced from the order (on-order billing before the
        // delivery) leaves nothing for its delivery lines.
        let rest = (q - invoiced).min(l.base_quantity - l.billed_quantity);
        if rest > 0 {
            out.push(Claim { line: l.clone(), base: rest, delivery_line: Some((id, invoiced)) });
        }
    }
    Ok(out)
}

/// `POST /deliveries/{id}/invoice`: what the shipped delivery carried and is not yet
/// invoiced.
pub fn from_delivery(conn: &mut DbConnection, caller: &Caller, delivery_id: i64, base: Currency) -> Result<Invoice> {
    ordo_db::lock::parent(conn, "sales_orders", "deliveries", "sales_order_id", delivery_id)?;
    let d = ordo_fulfillment::deliveries::find(conn, caller, delivery_id)?;
    write(caller)?;
    if d.status != "shipped" {
        return Err(DomainError::conflict(
            "delivery_not_shipped",
            format!("delivery {} is {}: only shipped deliveries are invoiced", d.number, d.status),
        ));
    }
    let pol = policy(conn, d.customer_id)?;
    if pol != InvoicingPolicy::OnDelivery {
        return Err(policy_refuses("an invoice per delivery", pol));
    }
    let order = ordo_sales_docs::orders::find(conn, caller, d.sales_order_id)?;
    let claims = delivery_claims(conn, &[d.id])?;
    if claims.is_empty() {
        return Err(DomainError::rule("nothing_to_invoice", format!("delivery {} is invoiced already", d.number)));
    }
    let c = customer_of(conn, d.customer_id)?;
    let mut row = blank(conn, InvoiceKind::Invoice, &c)?;
    copy_order_header(&mut row, &order);
    row.delivery_id = Some(d.id);
    bill(conn, caller, row, vec![order], claims, base)
}

/// `POST /invoices/collective`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectiveRequest {
    pub customer_id: i64,
    /// Deliveries shipped on or before this day (default today).
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub up_to_date: Option<Date>,
    /// Only orders in this currency (default the customer's): one invoice has one currency.
    pub currency: Option<Currency>,
}

/// One invoice over every shipped-not-invoiced delivery line of the customer up to a
/// date, in one currency.
pub fn collective(
    conn: &mut DbConnection,
    caller: &Caller,
    input: CollectiveRequest,
    base: Currency,
) -> Result<Invoice> {
    write(caller)?;
    let c = ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", input.customer_id)?.to_model()?;
    let currency = input.currency.unwrap_or(c.currency);
    let up_to = input.up_to_date.unwrap_or(now().date());
    let end = up_to.next_day().unwrap_or(up_to).midnight();
    let found: Vec<(i64, i64)> = deliveries::table
        .inner_join(sales_orders::table.on(sales_orders::id.eq(deliveries::sales_order_id)))
        .filter(deliveries::customer_id.eq(c.id))
        .filter(deliveries::status.eq("shipped"))
        .filter(deliveries::shipped_at.lt(end))
        .filter(sales_orders::currency.eq(currency.code()))
        .select((deliveries::id, deliveries::sales_order_id))
        .order(deliveries::id.asc())
        .load(conn)?;
    let mut order_ids: Vec<i64> = found.iter().map(|f| f.1).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    ordo_db::lock::rows(conn, "sales_orders", &order_ids)?;
    let ids: Vec<i64> = found.iter().map(|f| f.0).collect();
    let claims = delivery_claims(conn, &ids)?;
    if claims.is_empty() {
        return Err(DomainError::rule(
            "nothing_to_invoice",
            format!("customer {} has no shipped, uninvoiced deliveries in {currency} up to {up_to}", c.number),
        ));
    }
    let billed_orders: std::collections::BTreeSet<i64> = claims.iter().map(|c| c.line.doc_id).collect();
    let orders: Vec<OrderRow> = sales_orders::table
        .filter(sales_orders::id.eq_any(billed_orders.iter().copied().collect::<Vec<_>>()))
        .order(sales_orders::id.asc())
        .select(OrderRow::as_select())
        .load(conn)?;
    let mut row = blank(conn, InvoiceKind::Invoice, &c)?;
    row.currency = currency.code().into();
    if let [only] = orders.as_slice() {
        copy_order_header(&mut row, only);
    }
    row.notes = Some(format!("Collective invoice for deliveries up to {up_to}."));
    bill(conn, caller, row, orders, claims, base)
}

// ---- header edits, deletion, posting ------------------------------------------------------

/// `PATCH /invoices/{id}`: what a draft's header may still change.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePatch {
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub contact_id: Option<Option<i64>>,
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(min = 1, max = 100))]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub customer_po: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 4000))]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Option<String>>,
    /// Credit notes: why.
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(min = 1, max = 1000))]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 1000)]
    pub reason: Option<Option<String>>,
}

pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: InvoicePatch,
) -> Result<Invoice> {
    let current = editable(conn, caller, id, if_match)?;
    let before = current.to_model(None)?;
    let mut row = current.clone();
    if let Some(c) = p.contact_id {
        docs::check_contact(conn, row.customer_id, c)?;
        row.contact_id = c;
    }
    if let Some(d) = p.payment_terms_days {
        row.payment_terms_days = d;
    }
    if let Some(v) = p.customer_po {
        row.customer_po = v;
    }
    if let Some(v) = p.notes {
        row.notes = v;
    }
    if let Some(v) = p.reason {
        row.reason = v;
    }
    let diff = audit::diff(&to_json(&before), &to_json(&row.to_model(None)?));
    let saved = core::commit(conn, caller, &current, row, "update", &diff)?;
    let ls = load_lines(conn, &saved)?;
    saved.to_model(Some(&ls))
}

/// Deleting a draft gives back what it claimed: order and delivery lines become
/// invoiceable again, an order's shipping too, credited amounts are freed. Drafts carry
/// no legal number, so numbering is untouched.
pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Invoice>> {
    let row = editable(conn, caller, id, if_match)?;
    let ls = load_lines(conn, &row)?;
    release(conn, &row, &ls)?;
    core::remove(conn, caller, &row, &ls)?;
    Ok(Removal::Deleted)
}

fn release(conn: &mut DbConnection, row: &InvoiceRow, ls: &[LineRow]) -> Result<()> {
    release_lines(conn, row, ls)?;
    let p = HeaderPricing::parse(&row.pricing, &row.number)?;
    if !p.shipping_orders.is_empty() {
        diesel::update(sales_orders::table.filter(sales_orders::id.eq_any(&p.shipping_orders)))
            .set(sales_orders::shipping_invoiced.eq(false))
            .execute(conn)?;
    }
    if let Some(inv) = row.credited_invoice_id {
        diesel::update(invoices::table.find(inv))
            .set(invoices::credited.eq(invoices::credited - row.gross))
            .execute(conn)?;
    }
    Ok(())
}

/// Gives back what these lines of a draft claimed: their order lines become
/// invoiceable again, their delivery lines un-invoiced.
fn release_lines(conn: &mut DbConnection, row: &InvoiceRow, ls: &[LineRow]) -> Result<()> {
    for l in ls {
        if let Some(src) = l.source_line_id {
            diesel::update(document_lines::table.find(src))
                .set((
                    document_lines::billed_quantity.eq(document_lines::billed_quantity - l.base_quantity),
                    document_lines::billed_net.eq(document_lines::billed_net - l.net),
                    document_lines::billed_tax.eq(document_lines::billed_tax - l.tax),
                ))
                .execute(conn)?;
        }
        // A credit note's lines name the delivery line for reference only: what it
        // credits is the invoice line, and the delivery stays invoiced.
        if let Some(dl) = l.delivery_line_id.filter(|_| row.kind == INVOICE) {
            diesel::update(delivery_lines::table.find(dl))
                .set(delivery_lines::invoiced_quantity.eq(delivery_lines::invoiced_quantity - l.base_quantity))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// `POST /invoices/{id}/post`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    /// The invoice date; default today. Not in the future, and not before the latest
    /// posted date of the series in that year.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
}

/// Posts a draft: dates, FX rate and base amounts fixed, a credit note applied to the
/// invoice it corrects, and — last, so the counter row is held only for the final
/// statements — the gap-free legal number.
pub fn post(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: PostRequest,
    base: Currency,
) -> Result<Invoice> {
    let current = editable(conn, caller, id, if_match)?;
    let kind = current.kind()?;
    let today = now().date();
    let date = input.date.unwrap_or(today);
    if date > today {
        return Err(DomainError::field("date", "in_future", "an invoice is not posted with a future date"));
    }
    if current.gross == 0 && current.net == 0 {
        let n: i64 = document_lines::table
            .filter(document_lines::doc_kind.eq(kind.doc_kind().as_str()))
            .filter(document_lines::doc_id.eq(id))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(DomainError::rule("no_lines", format!("{} {} has no lines", kind.label(), current.number)));
        }
    }
    let currency = current.currency()?;
    let rate = base_rate(conn, currency, base, date)?;
    let mut pricing = HeaderPricing::parse(&current.pricing, &current.number)?;
    rebase(&mut pricing.totals, rate, base)?;
    let mut row = current.clone();
    row.set_totals(&pricing.totals);
    row.pricing = ordo_core::util::json_text(&pricing);
    row.doc_date = date;
    row.due_date = date.checked_add(Duration::days(i64::from(row.payment_terms_days)));
    row.status = POSTED.into();
    row.posted_at = Some(now());
    row.posted_by = Some(caller.principal.name.clone());
    row.bump(current.version);
    if kind == InvoiceKind::CreditNote {
        crate::credit_notes::apply_on_post(conn, caller, &row, date, base)?;
    }
    let ls = load_lines(conn, &current)?;
    // The sales facts do not need the number: written before it is taken, they do not
    // add to the time the series stays locked.
    ordo_sales_docs::facts::record(
        conn,
        &ordo_sales_docs::facts::Header {
            basis: ordo_sales_docs::facts::INVOICE,
            doc_id: id,
            date,
            customer_id: row.customer_id,
            territory_id: row.territory_id,
            sales_person_id: row.sales_person_id,
            sales_partner_id: row.sales_partner_id,
            campaign_id: row.campaign_id,
            net: row.net,
            base_net: row.base_net,
            sign: if kind == InvoiceKind::CreditNote { -1 } else { 1 },
            customer_group: None,
            items: None,
        },
        &ls,
    )?;
    let pattern = numbering::pattern(conn, kind.as_str())?;
    // The gap-free part: from here to the commit the series row stays locked.
    let seq = numbering::take(conn, kind.as_str(), date)?;
    row.fiscal_year = Some(date.year());
    row.sequence_no = Some(seq);
    row.number = series::format_number(&pattern, seq, date.year());
    let saved = row.save(conn, current.version)?;
    let v = saved.to_model(Some(&ls))?;
    audit::record(
        conn,
        caller,
        INVOICE,
        id,
        "post",
        &serde_json::json!({"status": {"from": DRAFT, "to": POSTED}, "number": v.number, "date": v.date.to_string(),
            "due_date": v.due_date.map(|d| d.to_string()), "base_rate": v.totals.base_rate}),
    )?;
    ordo_db::events::emit(conn, caller, "invoice.posted", ("invoice", id), Some(v.customer_id), &v)?;
    Ok(v)
}

/// Converts totals to the base currency at `rate`, per tax rate, as drafts do.
fn rebase(t: &mut DocTotals, rate: Decimal, base: Currency) -> Result<()> {
    let bdp = u32::from(base.minor_units());
    let m = |v: Decimal| Money::new(v).map_err(|e| DomainError::Internal(format!("base amount: {e}")));
    for x in t.taxes.iter_mut() {
        x.base_net = m(round_to(x.net.value() * rate, bdp))?;
        x.base_tax = m(round_to(x.tax.value() * rate, bdp))?;
    }
    let bn: Decimal = t.taxes.iter().map(|x| x.base_net.value()).sum();
    let bt: Decimal = t.taxes.iter().map(|x| x.base_tax.value()).sum();
    t.base_currency = base;
    t.base_rate = Rate::new(rate).map_err(|e| DomainError::Internal(format!("fx rate: {e}")))?;
    t.base_net = m(bn)?;
    t.base_tax = m(bt)?;
    t.base_gross = m(bn + bt)?;
    Ok(())
}

/// A draft invoice's lines edited one at a time (`/invoices/{id}/lines`, and a standard
/// sales code's lines): new and changed lines are priced by the engine; the others keep
/// their amounts. A line billing an order or delivery line keeps the order's price: it
/// is removed (the order line becomes invoiceable again) but not changed. Credit notes
/// take no line edits: their lines are what they credit.
pub fn change_line(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    change: LineChange,
    base: Currency,
) -> Result<Invoice> {
    let current = editable(conn, caller, id, if_match)?;
    if current.kind()? != InvoiceKind::Invoice {
        return Err(DomainError::conflict(
            "credit_note_lines",
            "a credit note's lines are what it credits: delete the draft and credit the invoice again",
        ));
    }
    let stored = load_lines(conn, &current)?;
    if let LineChange::Patch(line_id, _) = &change {
        if stored.iter().any(|l| l.id == *line_id && (l.source_line_id.is_some() || l.delivery_line_id.is_some())) {
            return Err(DomainError::conflict(
                "billed_line",
                format!("line {line_id} bills an order line at the order's price: remove it and invoice the order line again"),
            ));
        }
    }
    let action = match &change {
        LineChange::Add(_) | LineChange::AddStandard(_) => "add_line",
        LineChange::Patch(..) => "update_line",
        LineChange::Remove(_) => "remove_line",
    };
    let edited = core::edit_lines(caller, &stored, change)?;
    lines::no_call_offs(edited.touched.iter().map(|(l, _)| (String::new(), l)))?;
    let by_id: HashMap<i64, &LineRow> = stored.iter().map(|l| (l.id, l)).collect();
    let kept: std::collections::HashSet<i64> = edited.own.iter().flatten().copied().collect();
    let removed: Vec<LineRow> =
        stored.iter().filter(|l| l.free_of_rule_id.is_none() && !kept.contains(&l.id)).cloned().collect();
    // What is priced: new lines, and a line whose input changed (at its stored id).
    let mut to_price: Vec<(Option<&LineRow>, LineInput)> = vec![];
    for (input, own) in edited.inputs.into_iter().zip(&edited.own) {
        match own.and_then(|o| by_id.get(&o).copied()) {
            Some(old) if old.input().is_ok_and(|was| was == input) => {}
            old => to_price.push((old, input)),
        }
    }
    let pricing_lines: Vec<PricingLine> =
        to_price.iter().map(|(_, input)| PricingLine { input: input.clone(), locked: None }).collect();
    let priced = if pricing_lines.is_empty() {
        vec![]
    } else {
        lines::price(conn, caller, &current.pricing_header()?, &pricing_lines, base, true)?.lines
    };
    release_lines(conn, &current, &removed)?;
    let gone: Vec<i64> = removed.iter().map(|l| l.id).collect();
    if !gone.is_empty() {
        diesel::delete(document_lines::table.filter(document_lines::id.eq_any(&gone))).execute(conn)?;
    }
    let mut next_position = stored.iter().map(|l| l.position).max().unwrap_or(0) + 1;
    let mut changed: HashMap<i64, LineRow> = HashMap::new();
    let mut new_rows = vec![];
    let mut own_priced = priced.iter().filter(|p| p.free_of_rule_id.is_none());
    for (old, _) in &to_price {
        let Some(p) = own_priced.next() else { break };
        match old {
            Some(old) => {
                let mut next = p.row(DocKind::Invoice, id, old.position, old.id, Some(old));
                next.version = old.version + 1;
                let saved: LineRow = diesel::update(document_lines::table.find(old.id))
                    .set(&next)
                    .returning(document_lines::all_columns)
                    .get_result(conn)?;
                changed.insert(old.id, saved);
            }
            None => {
                new_rows.push(p.row(DocKind::Invoice, id, next_position, 0, None));
                next_position += 1;
            }
        }
    }
    // Lines a pricing rule adds for the new ones (free goods) come with them.
    for p in priced.iter().filter(|p| p.free_of_rule_id.is_some()) {
        new_rows.push(p.row(DocKind::Invoice, id, next_position, 0, None));
        next_position += 1;
    }
    let inserted = if new_rows.is_empty() {
        vec![]
    } else {
        ordo_db::insert_batch!(conn, document_lines::table, &new_rows, returning document_lines::all_columns => LineRow)
    };
    let before = HeaderPricing::parse(&current.pricing, &current.number)?;
    let shipping = shipping_part(&before, &stored);
    let all: Vec<LineRow> = stored
        .into_iter()
        .filter(|l| !gone.contains(&l.id))
        .map(|l| changed.remove(&l.id).unwrap_or(l))
        .chain(inserted)
        .collect();
    let rate = base_rate(conn, current.currency()?, base, now().date())?;
    let mut pricing = totals_of(&all, shipping.as_ref(), base, rate, before.explanation.clone())?;
    pricing.shipping_orders = before.shipping_orders.clone();
    let mut row = current.clone();
    row.set_totals(&pricing.totals);
    row.pricing = ordo_core::util::json_text(&pricing);
    let details = serde_json::json!({"net": {"from": Money::from_scaled(current.net), "to": pricing.totals.net},
        "removed_lines": gone});
    let saved = core::commit(conn, caller, &current, row, action, &details)?;
    saved.to_model(Some(&all))
}
