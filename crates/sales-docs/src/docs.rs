//! What quotations, sales orders and blanket orders share: who may see them (the
//! customer's scope), header references and defaults, the journal, and re-pricing.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, Permission, Result};
use ordo_crm::model::{Customer, CustomerStatus};
use ordo_db::schema::contacts;
use ordo_db::DbConnection;
use serde::Serialize;
use time::OffsetDateTime;

use crate::lines::{self, DocKind, LineInput, LineRow, PricingHeader, PricingLine};

pub(crate) fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesDocsRead)
}
pub(crate) fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesDocsWrite)
}

/// Narrows a boxed document query to the caller's customers when the caller is an
/// agent: documents hang off customers, so this is the one scope rule for every
/// document table. (A subquery: the MultiConnection backend cannot box one.)
#[macro_export]
macro_rules! scoped {
    ($q:expr, $caller:expr, $customer_col:expr) => {{
        use diesel::prelude::*;
        let q = $q;
        match $caller.scope() {
            ordo_core::Scope::All => q,
            ordo_core::Scope::OwnCustomers(me) => q.filter($customer_col.eq_any(ordo_crm::scope::own_customer_ids(me))),
        }
    }};
}

// The customer a document list is joined with (for `customer_name` sorting): an
// alias, so scope and search subqueries on `customers` stay independent of it.
diesel::alias!(
    pub const DOC_CUSTOMER: Alias<DocCustomer> = ordo_db::schema::customers as doc_customer
);

/// The list filters every document list shares: `q` (number prefix, customer name,
/// customer PO), `updated_since` and a document-date range.
#[derive(Debug, Clone, Default)]
pub struct DocSearch {
    pub q: Option<String>,
    pub updated_since: Option<OffsetDateTime>,
    pub date_from: Option<time::Date>,
    pub date_to: Option<time::Date>,
    /// What to embed in each document of the page.
    pub expand: Vec<crate::expand::Expand>,
}

/// Applies a [`DocSearch`] to a boxed document query. `date` is the document date
/// column; `po` the customer-PO column when the document has one. The customer-name
/// match is a subquery on the customer table (case-insensitive substring); the number
/// matches as a case-insensitive prefix.
#[macro_export]
macro_rules! doc_search {
    ($q:expr, $s:expr, number: $number:path, customer: $customer:path, $dkind:ident: $date:path, updated: $updated:path $(, po: $po:path)?) => {{
        use diesel::prelude::*;
        use ordo_db::schema::customers;
        use ordo_db::sql::lower;
        let mut q = $q;
        let s: &$crate::docs::DocSearch = $s;
        if let Some(text) = s.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let contains = ordo_db::sql::like_pattern(text);
            let prefix = contains[1..].to_string();
            let by_name = customers::table.filter(lower(customers::name).like(contains.clone()).escape('\\')).select(customers::id);
            let hit = lower($number).like(prefix).escape('\\').or($customer.eq_any(by_name));
            $( let hit = hit.or(lower($po.assume_not_null()).like(contains.clone()).escape('\\').and($po.is_not_null())); )?
            q = q.filter(hit);
        }
        if let Some(t) = s.updated_since {
            q = q.filter($updated.ge(ordo_core::time_util::from_offset(t)));
        }
        $crate::doc_search!(@range q, s, $dkind: $date)
    }};
    // A document date column.
    (@range $q:ident, $s:ident, date: $date:path) => {{
        if let Some(d) = $s.date_from {
            $q = $q.filter($date.ge(d));
        }
        if let Some(d) = $s.date_to {
            $q = $q.filter($date.le(d));
        }
        $q
    }};
    // Documents without a date of their own: the day they were created (UTC).
    (@range $q:ident, $s:ident, created: $ts:path) => {{
        if let Some(d) = $s.date_from {
            $q = $q.filter($ts.ge(d.midnight()));
        }
        if let Some(d) = $s.date_to.and_then(|d| d.next_day()) {
            $q = $q.filter($ts.lt(d.midnight()));
        }
        $q
    }};
}

/// Loads a page of a document list joined with its customer's name, in any of the
/// sorts documents offer: `number`, `date` (where the document has one), `total`
/// (gross, document currency; where it has one), `customer_name`, `created_at`,
/// `updated_at`, and `id`.
#[macro_export]
macro_rules! doc_page {
    ($conn:expr, $q:expr, $page:expr, $t:ident, $row:ty $(, date: $date:ident)? $(, total: $total:ident)?) => {{
        type R = ($row, String);
        let customer_name = $crate::docs::DOC_CUSTOMER.field(ordo_db::schema::customers::name);
        ordo_db::keyset_page!($conn, $q, $page, $t::id => |r: &R| r.0.id,
            "number" => $t::number: String = |r: &R| r.0.number.clone(),
            $( "date" => $t::$date: time::Date = |r: &R| r.0.$date, )?
            $( "total" => $t::$total: i64 = |r: &R| r.0.$total, )?
            "customer_name" => customer_name: String = |r: &R| r.1.clone(),
            "created_at" => $t::created_at: time::PrimitiveDateTime = |r: &R| r.0.created_at,
            "updated_at" => $t::updated_at: time::PrimitiveDateTime = |r: &R| r.0.updated_at,
        )
    }};
}

/// The customer of a new or re-pointed document: visible (else 404 on `customer_id`)
/// and not blocked (422 `customer_blocked`).
pub fn document_customer(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Customer> {
    let c = ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", id)?.to_model()?;
    if c.status == CustomerStatus::Blocked {
        return Err(DomainError::Rule {
            code: "customer_blocked",
            detail: format!("customer {} is blocked: no new sales documents", c.number),
            errors: vec![ordo_core::FieldError::new("customer_id", "blocked", "the customer is blocked")],
        });
    }
    if c.archived_at.is_some() {
        return Err(DomainError::field("customer_id", "archived", "the customer is archived"));
    }
    Ok(c)
}

/// The contact must be one of the customer's.
pub fn check_contact(conn: &mut DbConnection, customer_id: i64, contact_id: Option<i64>) -> Result<()> {
    if let Some(id) = contact_id {
        let n: i64 = contacts::table
            .filter(contacts::id.eq(id))
            .filter(contacts::customer_id.eq(customer_id))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(DomainError::reference_not_found("contact", "contact_id", id));
        }
    }
    Ok(())
}

/// Lines must not be edited through a header PATCH.
pub fn no_lines_in_patch(p: &ordo_core::body::MergePatch) -> Result<()> {
    if p.0.contains_key("lines") {
        return Err(DomainError::field(
            "lines",
            "not_patchable",
            "change lines through the document's /lines endpoints",
        ));
    }
    Ok(())
}

/// Re-prices a document after a header or line change and writes only what changed.
/// `inputs[i]` is line `i` as it should be; `own[i]` its stored id (None for new).
#[allow(clippy::too_many_arguments)]
pub fn reprice(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: DocKind,
    doc_id: i64,
    header: &PricingHeader,
    stored: Vec<LineRow>,
    inputs: Vec<LineInput>,
    own: Vec<Option<i64>>,
    base: Currency,
) -> Result<(Vec<LineRow>, lines::HeaderPricing)> {
    let by_id: std::collections::HashMap<i64, &LineRow> = stored.iter().map(|r| (r.id, r)).collect();
    let pricing_lines: Vec<PricingLine> = inputs
        .into_iter()
        .zip(own.iter())
        .map(|(input, id)| {
            // A copied price stands only while the line is what was copied: a changed
            // quantity, unit or configuration is priced afresh.
            let locked = id
                .and_then(|id| by_id.get(&id))
                .filter(|r| r.locked_from().is_some())
                .filter(|r| r.input().is_ok_and(|was| was.prices_alike(&input)))
                .map(|r| (*r).clone());
            PricingLine { input, locked }
        })
        .collect();
    let priced = lines::price(conn, caller, header, &pricing_lines, base, kind == DocKind::SalesOrder)?;
    let (existing, removed) = lines::match_rows(stored, &own, &priced.lines);
    let rows = lines::sync(conn, kind, doc_id, &existing, &priced.lines, &removed)?;
    Ok((rows, priced.header))
}

/// One journal entry: a comment or an event, in the stage the document was in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JournalEntry {
    pub id: i64,
    /// `event` (a state change, approval, ...) or `comment`.
    pub kind: String,
    pub text: String,
    /// `user:<id>` or `client:<id>`.
    pub actor: String,
    pub actor_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Journal entries grouped by the stage they happened in, in order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JournalStage {
    pub stage: String,
    pub entries: Vec<JournalEntry>,
}

pub fn journal(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: DocKind,
    id: i64,
    stage: &str,
    event: &str,
    text: String,
) -> Result<()> {
    ordo_db::audit::journal(conn, caller, (kind.as_str(), id), stage, event, text)
}

pub fn journal_of(conn: &mut DbConnection, kind: DocKind, id: i64) -> Result<Vec<JournalStage>> {
    let mut out: Vec<JournalStage> = vec![];
    for (id, stage, kind, text, actor, actor_name, at) in ordo_db::audit::journal_of(conn, kind.as_str(), id)? {
        let entry = JournalEntry { id, kind, text, actor, actor_name, at: at.assume_utc() };
        match out.last_mut() {
            Some(s) if s.stage == stage => s.entries.push(entry),
            _ => out.push(JournalStage { stage, entries: vec![entry] }),
        }
    }
    Ok(out)
}
