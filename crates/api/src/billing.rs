//! Billing endpoints: invoices and credit notes (from orders, deliveries, returns,
//! collective and direct), posting, payments and allocations, statements and aging.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use ordo_billing::allocations::Allocation;
use ordo_billing::credit_notes::{self, ApplyRequest, CreditNoteRequest, RefundRequest};
use ordo_billing::invoices::{
    self, CollectiveRequest, Invoice, InvoiceCreate, InvoiceKind, InvoicePatch, InvoiceStatus, OrderInvoiceRequest,
    PostRequest,
};
use ordo_billing::payments::{
    self, AllocationRequest, BounceRequest, Payment, PaymentCreate, PaymentMethod, PaymentStatus,
};
use ordo_billing::receivables::{self, AgingBy, AgingReport, Statement};
use ordo_core::{Currency, Page};
use ordo_sales_docs::credit::CreditPosition;
use serde::Deserialize;

use crate::common::{removal_response, ExpandQuery, PageQuery};
use crate::crud::{ListQuery, Resource};
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

crate::team_resource!(Invoice, Payment);

crate::list_query!(InvoiceQuery => invoices::Filter {
    /// `invoice` or `credit_note` (default both).
    kind: Option<InvoiceKind>,
    customer_id: Option<i64>,
    /// `posted` means posted and nothing settled yet.
    status: Option<InvoiceStatus>,
    /// Posted, not fully settled, due before today.
    overdue: Option<bool>,
    sales_order_id: Option<i64>,
    /// Exact number (legal or draft reference).
    number: Option<String>,
} sort: crate::crud::DocumentSort = crate::crud::DocumentSort::IdDesc, documents: "invoice date");

crate::sort_enum!(
    /// `number`, `date`, `amount`, `customer_name`, `created_at`, `id`; `-` for descending.
    PaymentSort {
        Number = "number" / NumberDesc = "-number",
        Date = "date" / DateDesc = "-date",
        Amount = "amount" / AmountDesc = "-amount",
        CustomerName = "customer_name" / CustomerNameDesc = "-customer_name",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        Id = "id" / IdDesc = "-id",
    }
);

crate::list_query!(PaymentQuery => payments::Filter {
    customer_id: Option<i64>,
    status: Option<PaymentStatus>,
    method: Option<PaymentMethod>,
    /// Only payments with (`true`) or without (`false`) money on account.
    unallocated: Option<bool>,
    /// Payment date from (inclusive).
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    date_from: Option<time::Date>,
    /// Payment date up to (inclusive).
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    date_to: Option<time::Date>,
} sort: PaymentSort = PaymentSort::IdDesc);

// ---- invoices ---------------------------------------------------------------------------

fn created(v: &Invoice) -> ReplyMeta {
    ReplyMeta { location: Some(format!("/api/v1/invoices/{}", v.id)), version: Some(v.version) }
}

/// Create a draft invoice without an order: lines priced by the price engine like any
/// document (the customer's price list, discounts and rules).
#[utoipa::path(tag = "invoices", operation_id = "createInvoice", request_body = InvoiceCreate,
    responses((status = 201, description = "The draft", body = Invoice, headers(("ETag" = String), ("Location" = String)))))]
#[post("/invoices")]
pub async fn create_invoice(auth: Auth, body: ValidJson<InvoiceCreate>) -> Result<HttpResponse, Problem> {
    let (input, base) = (body.0, auth.db_state().config.base_currency);
    auth.post(StatusCode::CREATED, move |c, caller| invoices::create(c, caller, input, base), created).await
}

/// Invoice a confirmed sales order: every line's invoiceable rest, or the chosen lines
/// and quantities. What is invoiceable follows the customer's invoicing policy:
/// `on_order` the whole line, `on_delivery` what was delivered (lines without stock with
/// the order), `periodic` nothing (422 `invoicing_policy`: use a collective invoice).
/// A line is never invoiced twice (409 `concurrent_invoicing` when another invoice
/// took it meanwhile); the order's shipping goes on its first invoice.
#[utoipa::path(tag = "invoices", operation_id = "invoiceSalesOrder", params(("id" = i64, Path, description = "Sales order id")),
    request_body = OrderInvoiceRequest,
    responses((status = 201, description = "The draft invoice", body = Invoice, headers(("ETag" = String), ("Location" = String)))))]
#[post("/sales-orders/{id}/invoice")]
pub async fn invoice_order(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<OrderInvoiceRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, input, base) = (id.into_inner(), body.0, auth.db_state().config.base_currency);
    auth.post(StatusCode::CREATED, move |c, caller| invoices::from_order(c, caller, id, input, base), created).await
}

/// Invoice what a shipped delivery carried and is not invoiced yet (customers invoiced
/// `on_delivery`).
#[utoipa::path(tag = "invoices", operation_id = "invoiceDelivery", params(("id" = i64, Path, description = "Delivery id")),
    responses((status = 201, description = "The draft invoice", body = Invoice, headers(("ETag" = String), ("Location" = String)))))]
#[post("/deliveries/{id}/invoice")]
pub async fn invoice_delivery(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let (id, base) = (id.into_inner(), auth.db_state().config.base_currency);
    auth.post(StatusCode::CREATED, move |c, caller| invoices::from_delivery(c, caller, id, base), created).await
}

/// One invoice over every shipped, not yet invoiced delivery line of a customer up to
/// a date (any invoicing policy), in one currency.
#[utoipa::path(tag = "invoices", operation_id = "createCollectiveInvoice", request_body = CollectiveRequest,
    responses((status = 201, description = "The draft invoice", body = Invoice, headers(("ETag" = String), ("Location" = String)))))]
#[post("/invoices/collective")]
pub async fn collective_invoice(auth: Auth, body: ValidJson<CollectiveRequest>) -> Result<HttpResponse, Problem> {
    let (input, base) = (body.0, auth.db_state().config.base_currency);
    auth.post(StatusCode::CREATED, move |c, caller| invoices::collective(c, caller, input, base), created).await
}

/// Invoices and credit notes (without lines); an agent sees their customers' only.
#[utoipa::path(tag = "invoices", operation_id = "listInvoices", params(InvoiceQuery),
    responses((status = 200, description = "A page", body = Page<Invoice>)))]
#[get("/invoices")]
pub async fn list_invoices(auth: Auth, q: StrictQuery<InvoiceQuery>) -> Result<HttpResponse, Problem> {
    let (filter, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| invoices::list(c, caller, &filter, page)).await
}

/// An invoice or credit note with its lines (each line links the order line, delivery
/// line or invoice line it bills or credits).
#[utoipa::path(tag = "invoices", operation_id = "getInvoice", params(("id" = i64, Path, description = "Id"), ExpandQuery),
    responses((status = 200, description = "Found", body = Invoice, headers(("ETag" = String)))))]
#[get("/invoices/{id}")]
pub async fn get_invoice(auth: Auth, id: web::Path<i64>, q: StrictQuery<ExpandQuery>) -> Result<HttpResponse, Problem> {
    let (id, expand) = (id.into_inner(), q.0.expand);
    let v = auth
        .read(move |c, caller| {
            let mut v = invoices::get(c, caller, id)?;
            ordo_sales_docs::expand::apply(c, std::slice::from_mut(&mut v), &expand)?;
            Ok(v)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Change a draft's header (merge-patch); a posted document is a 409 `already_posted`.
#[utoipa::path(tag = "invoices", operation_id = "updateInvoice", params(("id" = i64, Path, description = "Id")),
    request_body(content = InvoicePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = Invoice, headers(("ETag" = String)))))]
#[patch("/invoices/{id}")]
pub async fn update_invoice(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<InvoicePatch>,
) -> Result<HttpResponse, Problem> {
    let (id, p) = (id.into_inner(), body.0);
    let v = auth.write(move |c, caller| invoices::update(c, caller, id, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Delete a draft: what it claimed of orders, deliveries and invoices becomes
/// invoiceable (creditable) again. Drafts carry no legal number: numbering is untouched.
#[utoipa::path(tag = "invoices", operation_id = "deleteInvoice", params(("id" = i64, Path, description = "Id")),
    responses((status = 204, description = "Deleted")))]
#[delete("/invoices/{id}")]
pub async fn delete_invoice(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let r = auth.write(move |c, caller| invoices::delete(c, caller, id, if_match.0)).await?;
    Ok(removal_response(r, |v| v.version))
}

crate::history_endpoint! {
    /// Field-level history of an invoice or credit note (created, posted, credited,
    /// applied, refunded).
    fn invoice_history, tag: "invoices", id: "getInvoiceHistory", path: "/invoices/{id}/history",
    call: |c, caller, id, page| invoices::history(c, caller, id, page)
}

crate::action! {
    /// Post a draft: the invoice date (default today; never in the future nor before
    /// the latest posted date of the series that year), the due date from the payment
    /// terms, the exchange rate to the base currency and the base amounts are fixed, and
    /// the gap-free legal number (per series and year) is taken as the last step. A
    /// posted document never changes again (409 `already_posted`); it is corrected by a
    /// credit note. A credit note settles the invoice it corrects as far as that is open.
    /// When the customer's `invoice_delivery` is `email`, the posted document is queued
    /// for mailing in the same transaction (`GET /outbox`).
    fn post_invoice, tag: "invoices", id: "postInvoice", path: "/invoices/{id}/post", model: Invoice,
    body: PostRequest, base: base,
    call: |c, caller, id, if_match, input| {
        let posted = invoices::post(c, caller, id, if_match, input, base)?;
        // Customers with `invoice_delivery: email` get it mailed (same transaction).
        crate::mail::on_posted(c, caller, posted.id, posted.customer_id)?;
        Ok(posted)
    }
}

/// Credit a posted invoice: by quantity, by net amount per line, or in full
/// (`full: true`, shipping included). Never more than invoiced minus already credited,
/// per line and in total (422 `exceeds_invoiced` naming the line). The credit note is a
/// draft until posted in its own gap-free series.
#[utoipa::path(tag = "invoices", operation_id = "createCreditNote", params(("id" = i64, Path, description = "Invoice id")),
    request_body = CreditNoteRequest,
    responses((status = 201, description = "The draft credit note", body = Invoice, headers(("ETag" = String), ("Location" = String)))))]
#[post("/invoices/{id}/credit-notes")]
pub async fn create_credit_note(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CreditNoteRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, input, base) = (id.into_inner(), body.0, auth.db_state().config.base_currency);
    auth.post(StatusCode::CREATED, move |c, caller| credit_notes::create(c, caller, id, input, base), created).await
}

/// Credit what a received return brought back, on the posted invoice that billed it
/// (one credit note per return: 409 `already_credited` after).
#[utoipa::path(tag = "invoices", operation_id = "creditReturn", params(("id" = i64, Path, description = "Return id")),
    responses((status = 201, description = "The draft credit note", body = Invoice, headers(("ETag" = String), ("Location" = String)))))]
#[post("/returns/{id}/credit-note")]
pub async fn credit_return(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let (id, base) = (id.into_inner(), auth.db_state().config.base_currency);
    auth.post(StatusCode::CREATED, move |c, caller| credit_notes::from_return(c, caller, id, base), created).await
}

crate::action! {
    /// Apply a posted credit note's rest to another open invoice of the same customer
    /// and currency.
    fn apply_credit_note, tag: "invoices", id: "applyCreditNote", path: "/invoices/{id}/apply", model: Invoice,
    body: ApplyRequest, base: base,
    call: |c, caller, id, if_match, input| credit_notes::apply_to(c, caller, id, if_match, input, base)
}

crate::action! {
    /// Pay a posted credit note's rest back to the customer.
    fn refund_credit_note, tag: "invoices", id: "refundCreditNote", path: "/invoices/{id}/refund", model: Invoice,
    body: RefundRequest,
    call: |c, caller, id, if_match, input| credit_notes::refund(c, caller, id, if_match, input)
}

/// What settled an invoice (payments, credit notes) or what a credit note was applied
/// to and refunded, reversed allocations included.
#[utoipa::path(tag = "invoices", operation_id = "listInvoiceAllocations", params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Every allocation (one page)", body = Page<Allocation>)))]
#[get("/invoices/{id}/allocations")]
pub async fn invoice_allocations(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.list_one(move |c, caller| payments::of_invoice(c, caller, id)).await
}

// ---- payments -------------------------------------------------------------------------------

/// Record a received payment (a cheque starts `received`, anything else `cleared`),
/// optionally allocated to the customer's open invoices oldest due first.
#[utoipa::path(tag = "payments", operation_id = "createPayment", request_body = PaymentCreate,
    responses((status = 201, description = "Recorded", body = Payment, headers(("ETag" = String), ("Location" = String)))))]
#[post("/payments")]
pub async fn create_payment(auth: Auth, body: ValidJson<PaymentCreate>) -> Result<HttpResponse, Problem> {
    let (input, base) = (body.0, auth.db_state().config.base_currency);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| payments::create(c, caller, input, base),
        |v| ReplyMeta { location: Some(format!("/api/v1/payments/{}", v.id())), version: Some(v.version()) },
    )
    .await
}

/// Payments (without allocations); an agent sees their customers' only.
#[utoipa::path(tag = "payments", operation_id = "listPayments", params(PaymentQuery),
    responses((status = 200, description = "A page", body = Page<Payment>)))]
#[get("/payments")]
pub async fn list_payments(auth: Auth, q: StrictQuery<PaymentQuery>) -> Result<HttpResponse, Problem> {
    let (filter, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| payments::list(c, caller, &filter, page)).await
}

/// A payment with its allocations and refunds.
#[utoipa::path(tag = "payments", operation_id = "getPayment", params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Found", body = Payment, headers(("ETag" = String)))))]
#[get("/payments/{id}")]
pub async fn get_payment(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let v = auth.read(move |c, caller| payments::get(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

crate::history_endpoint! {
    /// History of a payment: recorded, allocated, unallocated, cleared, bounced, refunded.
    fn payment_history, tag: "payments", id: "getPaymentHistory", path: "/payments/{id}/history",
    call: |c, caller, id, page| payments::history(c, caller, id, page)
}

crate::action! {
    /// Allocate the payment to posted invoices of its customer: explicit amounts (in each
    /// invoice's currency; another currency converts at the payment date's rate and
    /// records the exchange difference), or oldest due first. More than an invoice has
    /// open is 422 `exceeds_open_amount`, more than the payment has left 422
    /// `exceeds_payment`; nothing is written then.
    fn allocate_payment, tag: "payments", id: "allocatePayment", path: "/payments/{id}/allocations", model: Payment,
    body: AllocationRequest, base: base,
    call: |c, caller, id, if_match, input| payments::allocate(c, caller, id, if_match, input, base)
}

/// Undo one allocation: the invoice is open again by that amount, the payment has it
/// on account again.
#[utoipa::path(tag = "payments", operation_id = "reverseAllocation",
    params(("id" = i64, Path, description = "Payment id"), ("allocation_id" = i64, Path, description = "Allocation id")),
    responses((status = 200, description = "The payment", body = Payment, headers(("ETag" = String)))))]
#[post("/payments/{id}/allocations/{allocation_id}/reverse")]
pub async fn reverse_allocation(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
) -> Result<HttpResponse, Problem> {
    let (id, allocation_id) = path.into_inner();
    auth.post(
        StatusCode::OK,
        move |c, caller| payments::unallocate(c, caller, id, allocation_id, if_match.0),
        |v| ReplyMeta { location: None, version: Some(v.version()) },
    )
    .await
}

crate::action! {
    /// `received → cleared`: the bank cashed the cheque.
    fn clear_payment, tag: "payments", id: "clearPayment", path: "/payments/{id}/clear", model: Payment,
    call: |c, caller, id, if_match| payments::clear(c, caller, id, if_match)
}

crate::action! {
    /// `received → bounced`: the cheque was returned unpaid; every invoice it paid is
    /// open again (its allocations are reversed) and the bank's fee is recorded.
    fn bounce_payment, tag: "payments", id: "bouncePayment", path: "/payments/{id}/bounce", model: Payment,
    body: BounceRequest,
    call: |c, caller, id, if_match, input| payments::bounce(c, caller, id, if_match, input)
}

crate::action! {
    /// Pay money the customer has on account back.
    fn refund_payment, tag: "payments", id: "refundPayment", path: "/payments/{id}/refund", model: Payment,
    body: RefundRequest,
    call: |c, caller, id, if_match, input| payments::refund(c, caller, id, if_match, input)
}

// ---- receivables ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    /// First day (inclusive).
    #[serde(with = "ordo_core::serde_util::date")]
    #[param(value_type = String, format = Date)]
    pub from: time::Date,
    /// Last day (inclusive).
    #[serde(with = "ordo_core::serde_util::date")]
    #[param(value_type = String, format = Date)]
    pub to: time::Date,
    /// Default: the customer's currency.
    #[param(value_type = Option<String>)]
    pub currency: Option<Currency>,
    /// Printed statements (`text/html`, `application/pdf`): ISO 639-1 language of the
    /// template, labels and number format (default: the company's).
    pub language: Option<String>,
}

/// A customer's statement for a period: opening balance, posted invoices and credit
/// notes, payments (and bounced cheques), refunds, and the closing balance, in one
/// currency and in the base currency (each document at its own rate). By content
/// negotiation: JSON (the default), or the printed statement from its template as
/// `text/html` or `application/pdf`.
#[utoipa::path(tag = "receivables", operation_id = "getCustomerStatement",
    params(("id" = i64, Path, description = "Customer id"), StatementParams),
    responses((status = 200, description = "The statement", content(
        (Statement = "application/json"), (String = "text/html"), (Vec<u8> = "application/pdf")))))]
#[get("/customers/{id}/statement")]
pub async fn customer_statement(
    auth: Auth,
    req: actix_web::HttpRequest,
    id: web::Path<i64>,
    q: StrictQuery<StatementParams>,
) -> Result<HttpResponse, Problem> {
    let (id, q, base) = (id.into_inner(), q.0, auth.db_state().config.base_currency);
    let query = receivables::StatementQuery { from: q.from, to: q.to, currency: q.currency };
    crate::documents::json_or_printed(
        auth,
        &req,
        q.language,
        crate::documents::DocumentKind::Statement,
        id,
        move |c, caller| receivables::statement(c, caller, id, query, base),
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgingParams {
    /// Default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub as_of: Option<time::Date>,
    /// Group by `customer` (default), `sales_agent` or `territory`.
    pub by: Option<AgingBy>,
    /// Upper bounds of the overdue buckets but the last, comma-separated days
    /// (default `30,60,90`: 1–30, 31–60, 61–90, 90+).
    pub buckets: Option<String>,
}

/// Open posted invoices by days overdue as of a date, in the base currency at each
/// invoice's posting rate; an agent sees only their customers. Payments and credit
/// notes dated after `as_of` do not count.
#[utoipa::path(tag = "receivables", operation_id = "getAgingReport", params(AgingParams),
    responses((status = 200, description = "The report", body = AgingReport)))]
#[get("/reports/aging")]
pub async fn aging_report(auth: Auth, q: StrictQuery<AgingParams>) -> Result<HttpResponse, Problem> {
    let (q, base) = (q.0, auth.db_state().config.base_currency);
    let bounds = match q.buckets.as_deref() {
        None => vec![30, 60, 90],
        Some(s) => s.split(',').map(|p| p.trim().parse::<i64>()).collect::<Result<Vec<_>, _>>().map_err(|_| {
            Problem::from(ordo_core::DomainError::field(
                "buckets",
                "invalid",
                "comma-separated whole days, e.g. 30,60,90",
            ))
        })?,
    };
    let query = receivables::AgingQuery {
        as_of: q.as_of.unwrap_or(ordo_core::time_util::now().date()),
        by: q.by.unwrap_or_default(),
        bounds,
    };
    let v = auth.read(move |c, caller| receivables::aging(c, caller, query, base)).await?;
    Ok(json_response(StatusCode::OK, &v, None))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FxParams {
    /// First day of the period (inclusive).
    #[serde(with = "ordo_core::serde_util::date")]
    #[param(value_type = String, format = Date)]
    pub from: time::Date,
    /// Last day of the period (inclusive).
    #[serde(with = "ordo_core::serde_util::date")]
    #[param(value_type = String, format = Date)]
    pub to: time::Date,
    /// Group by `customer` (default) or `currency` (the invoice's).
    pub by: Option<receivables::FxBy>,
}

/// Realised exchange gains and losses of a period in the base currency: each payment
/// or credit note applied to an invoice in another currency, or at another rate than
/// the invoice was posted at, books the difference on its allocation date; an
/// allocation undone in the period books it back. Losses first; an agent sees only
/// their customers.
#[utoipa::path(tag = "receivables", operation_id = "getExchangeDifferencesReport", params(FxParams),
    responses((status = 200, description = "The report", body = receivables::FxReport)))]
#[get("/reports/exchange-differences")]
pub async fn exchange_differences(auth: Auth, q: StrictQuery<FxParams>) -> Result<HttpResponse, Problem> {
    let (q, base) = (q.0, auth.db_state().config.base_currency);
    let v = auth
        .read(move |c, caller| {
            receivables::exchange_differences(c, caller, q.from, q.to, q.by.unwrap_or_default(), base)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &v, None))
}

// ---- credit control ----------------------------------------------------------------------------

/// A customer's credit and obligo position in the base currency: open orders,
/// delivered-not-invoiced, open receivables, credit exposure, uncleared cheques,
/// obligo, both limits and the utilisation in percent. Limits are the customer's own
/// or its nearest parent's (the figures then cover the whole group).
#[utoipa::path(tag = "receivables", operation_id = "getCustomerCredit", params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, description = "The position", body = CreditPosition)))]
#[get("/customers/{id}/credit")]
pub async fn customer_credit(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let (id, base) = (id.into_inner(), auth.db_state().config.base_currency);
    let v = auth.read(move |c, caller| ordo_sales_docs::credit::get(c, caller, id, base)).await?;
    Ok(json_response(StatusCode::OK, &v, None))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CreditReportParams {
    /// Customers whose credit or obligo utilisation is at least this percent (default 80).
    #[param(value_type = Option<String>)]
    pub min_utilisation: Option<ordo_core::Rate>,
}

/// Customers (credit accounts) over or near their limits, highest utilisation first;
/// an agent sees their own customers only.
#[utoipa::path(tag = "receivables", operation_id = "getCreditReport", params(CreditReportParams),
    responses((status = 200, description = "Accounts at or over the threshold", body = Page<CreditPosition>)))]
#[get("/reports/credit")]
pub async fn credit_report(auth: Auth, q: StrictQuery<CreditReportParams>) -> Result<HttpResponse, Problem> {
    let min = q.0.min_utilisation.map(|r| r.value()).unwrap_or(rust_decimal::Decimal::from(80));
    let base = auth.db_state().config.base_currency;
    auth.list_one(move |c, caller| ordo_sales_docs::credit::report(c, caller, min, base)).await
}

crate::action! {
    /// Let an open order through credit and obligo control (its submit, confirm and
    /// deliveries) with a reason, recorded in the order journal and the audit trail
    /// (`sales_manager`).
    fn override_credit, tag: "sales-orders", id: "overrideSalesOrderCredit", path: "/sales-orders/{id}/credit-override",
    model: ordo_sales_docs::orders::SalesOrder, body: ordo_sales_docs::orders::CreditOverrideRequest,
    call: |c, caller, id, if_match, input| ordo_sales_docs::orders::credit_override(c, caller, id, if_match, input)
}

// ---- recurring invoices ----------------------------------------------------------------------

crate::team_resource!(ordo_billing::recurring::RecurringInvoice);

crate::list_query!(RecurringQuery => ordo_billing::recurring::service::Filter {
    customer_id: Option<i64>,
    active: Option<bool>,
});

crate::crud_resource! {
    module: recurring_docs,
    tag: "invoices",
    collection: "/recurring-invoices",
    member: "/recurring-invoices/{id}",
    history: "/recurring-invoices/{id}/history",
    location: "/api/v1/recurring-invoices/{}",
    model: ordo_billing::recurring::RecurringInvoice,
    create: ordo_billing::recurring::RecurringInvoiceCreate,
    patch: ordo_core::body::MergePatch,
    query: RecurringQuery,
    service: ordo_billing::recurring::service,
    ids: ["createRecurringInvoice", "listRecurringInvoices", "getRecurringInvoice", "updateRecurringInvoice", "deleteRecurringInvoice", "getRecurringInvoiceHistory"],
    summaries: ["Create a recurring invoice template (the `recurring_invoices` job makes each due period's invoice)", "List recurring invoice templates", "Get a recurring invoice template", "Update a recurring invoice template (merge-patch; periods already made stay)", "Delete a recurring invoice template (its invoices stay)", "History of a recurring invoice template"],
}

/// What a template generated, per period (`sort=-id`: newest first): the invoice, or
/// why it failed.
#[utoipa::path(tag = "invoices", operation_id = "listRecurringInvoiceRuns",
    params(("id" = i64, Path, description = "Template id"), PageQuery),
    responses((status = 200, description = "A page", body = Page<ordo_billing::recurring::RecurringRun>)))]
#[get("/recurring-invoices/{id}/runs")]
pub async fn recurring_runs(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let page = q.0.page()?;
    auth.list(page, move |c, caller, page| ordo_billing::recurring::runs(c, caller, id, page)).await
}

crate::from_standard_code!(
    invoice_standard_lines,
    "invoices",
    "addInvoiceStandardLines",
    "/invoices/{id}/lines/from-standard-code",
    Invoice,
    invoices::InvoiceRow,
    invoices::change_line
);

/// A draft invoice's lines, one at a time: new and changed lines are priced by the
/// engine, the others keep their amounts. A line billing an order or delivery line is
/// removed (the order line becomes invoiceable again) but not changed (409
/// `billed_line`); credit notes take no line edits (409 `credit_note_lines`).
pub mod invoice_lines {
    use super::*;
    use crate::crud::Resource;
    use ordo_billing::invoices as service;
    use ordo_core::body::MergePatch;
    use ordo_sales_docs::lines::LineInput;

    crate::document_lines!(tag: "invoices", lines: "/invoices/{id}/lines", line: "/invoices/{id}/lines/{line_id}",
        model: Invoice, change: service::change_line, ids: ["addInvoiceLine", "updateInvoiceLine", "deleteInvoiceLine"],
        summaries: ["Add a line to a draft invoice (priced by the engine)",
            "Change one line of a draft invoice (merge-patch; lines billing an order line are removed, not changed)",
            "Remove a line from a draft invoice (what it billed of an order becomes invoiceable again)"]);
}

// ---- collection -----------------------------------------------------------------------------------

crate::team_resource!(ordo_billing::collection::DunningLevel);

crate::crud_resource! {
    module: dunning_docs,
    tag: "receivables",
    collection: "/dunning-levels",
    member: "/dunning-levels/{id}",
    history: "/dunning-levels/{id}/history",
    location: "/api/v1/dunning-levels/{}",
    model: ordo_billing::collection::DunningLevel,
    create: ordo_billing::collection::DunningLevelCreate,
    patch: ordo_core::body::MergePatch,
    query: PageQuery,
    service: ordo_billing::collection::level_service,
    ids: ["createDunningLevel", "listDunningLevels", "getDunningLevel", "updateDunningLevel", "deleteDunningLevel", "getDunningLevelHistory"],
    summaries: ["Create a dunning level (days overdue, fee, letter per language)", "List dunning levels", "Get a dunning level", "Update a dunning level (merge-patch)", "Delete a dunning level", "History of a dunning level"],
}

/// Propose (and with `confirm: true` record) the dunning notices overdue invoices have
/// reached as of a date, one letter per customer, with a collection task for the
/// customer's agent. Each invoice gets each level once (a unique key): a second run
/// proposes only what is new. Customers with an open promise to pay are left out.
#[utoipa::path(tag = "receivables", operation_id = "runCollection", request_body = ordo_billing::collection::CollectionRun,
    responses((status = 200, description = "The proposal, or what was recorded", body = ordo_billing::collection::CollectionProposal)))]
#[post("/collection/run")]
pub async fn run_collection(
    auth: Auth,
    body: ValidJson<ordo_billing::collection::CollectionRun>,
) -> Result<HttpResponse, Problem> {
    let input = body.0;
    auth.post(
        StatusCode::OK,
        move |c, caller| ordo_billing::collection::run(c, caller, input),
        |_| ReplyMeta { location: None, version: None },
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoticeQuery {
    pub customer_id: Option<i64>,
    /// `id` oldest first (the default), `-id` newest first.
    pub sort: Option<crate::crud::IdSort>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Recorded dunning notices; an agent sees their customers' only.
#[utoipa::path(tag = "receivables", operation_id = "listDunningNotices", params(NoticeQuery),
    responses((status = 200, description = "A page", body = Page<ordo_billing::collection::DunningNotice>)))]
#[get("/collection/notices")]
pub async fn dunning_notices(auth: Auth, q: StrictQuery<NoticeQuery>) -> Result<HttpResponse, Problem> {
    let q = q.0;
    let page =
        crate::common::sorted_page(q.limit, q.cursor.as_deref(), q.sort.unwrap_or(crate::crud::IdSort::Id).sort())?;
    let customer = q.customer_id;
    auth.list(page, move |c, caller, page| ordo_billing::collection::notices(c, caller, customer, page)).await
}

/// Record a customer's promise to pay: dunning pauses for them until its date.
#[utoipa::path(tag = "receivables", operation_id = "createPromiseToPay", params(("id" = i64, Path, description = "Customer id")),
    request_body = ordo_billing::collection::PromiseToPayCreate,
    responses((status = 201, description = "Recorded", body = ordo_billing::collection::PromiseToPay)))]
#[post("/customers/{id}/promises-to-pay")]
pub async fn create_promise(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ordo_billing::collection::PromiseToPayCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| ordo_billing::collection::create_promise(c, caller, id, input),
        |_| ReplyMeta { location: None, version: None },
    )
    .await
}

/// A customer's promises to pay: `open`, `kept` or `broken`.
#[utoipa::path(tag = "receivables", operation_id = "listPromisesToPay", params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, description = "Every promise (one page)", body = Page<ordo_billing::collection::PromiseToPay>)))]
#[get("/customers/{id}/promises-to-pay")]
pub async fn list_promises(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.list_one(move |c, caller| ordo_billing::collection::list_promises(c, caller, id)).await
}

// ---- commissions ----------------------------------------------------------------------------------

crate::team_resource!(ordo_billing::commissions::CommissionPlan, ordo_billing::commissions::CommissionStatement);

crate::list_query!(PlanQuery => ordo_billing::commissions::plan_service::Filter {
    sales_person_id: Option<i64>,
    sales_partner_id: Option<i64>,
});

crate::crud_resource! {
    module: commission_plan_docs,
    tag: "commissions",
    collection: "/commission-plans",
    member: "/commission-plans/{id}",
    history: "/commission-plans/{id}/history",
    location: "/api/v1/commission-plans/{}",
    model: ordo_billing::commissions::CommissionPlan,
    create: ordo_billing::commissions::CommissionPlanCreate,
    patch: ordo_core::body::MergePatch,
    query: PlanQuery,
    service: ordo_billing::commissions::plan_service,
    ids: ["createCommissionPlan", "listCommissionPlans", "getCommissionPlan", "updateCommissionPlan", "deleteCommissionPlan", "getCommissionPlanHistory"],
    summaries: ["Create a commission plan for a sales person or partner (rates per item group, on invoiced or paid)", "List commission plans", "Get a commission plan", "Update a commission plan (merge-patch; paid statements stay as they are)", "Delete a commission plan without statements", "History of a commission plan"],
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CommissionQuery {
    /// The month, `YYYY-MM`.
    pub period: String,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
}

/// What each active plan (or the person's or partner's) earned in a month, per
/// invoice, credit note (negative) or payment, in the base currency. A sales agent
/// sees only the plans of the sales person linked to their user.
#[utoipa::path(tag = "commissions", operation_id = "listCommissions", params(CommissionQuery),
    responses((status = 200, description = "One report per plan (one page)", body = Page<ordo_billing::commissions::CommissionReport>)))]
#[get("/commissions")]
pub async fn list_commissions(auth: Auth, q: StrictQuery<CommissionQuery>) -> Result<HttpResponse, Problem> {
    let (q, base) = (q.0, auth.db_state().config.base_currency);
    auth.list_one(move |c, caller| {
        ordo_billing::commissions::commissions(c, caller, &q.period, q.sales_person_id, q.sales_partner_id, base)
    })
    .await
}

/// Freeze a plan's month as a statement (made again while it is open; 409
/// `statement_paid` once paid).
#[utoipa::path(tag = "commissions", operation_id = "createCommissionStatement", params(("id" = i64, Path, description = "Plan id")),
    request_body = ordo_billing::commissions::StatementRequest,
    responses((status = 201, description = "The statement", body = ordo_billing::commissions::CommissionStatement, headers(("ETag" = String)))))]
#[post("/commission-plans/{id}/statements")]
pub async fn create_commission_statement(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ordo_billing::commissions::StatementRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, input, base) = (id.into_inner(), body.0, auth.db_state().config.base_currency);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| ordo_billing::commissions::make_statement(c, caller, id, input, base),
        |v| ReplyMeta { location: None, version: Some(v.version) },
    )
    .await
}

/// A plan's statements.
#[utoipa::path(tag = "commissions", operation_id = "listCommissionStatements",
    params(("id" = i64, Path, description = "Plan id"), PageQuery),
    responses((status = 200, description = "A page", body = Page<ordo_billing::commissions::CommissionStatement>)))]
#[get("/commission-plans/{id}/statements")]
pub async fn list_commission_statements(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| ordo_billing::commissions::statements(c, caller, id, page)).await
}

crate::action! {
    /// Mark a statement paid: final from now on.
    fn pay_commission_statement, tag: "commissions", id: "payCommissionStatement", path: "/commission-statements/{id}/pay",
    model: ordo_billing::commissions::CommissionStatement,
    call: |c, caller, id, if_match| ordo_billing::commissions::pay_statement(c, caller, id, if_match)
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    recurring_docs::routes(cfg);
    commission_plan_docs::routes(cfg);
    dunning_docs::routes(cfg);
    cfg.service(create_invoice)
        .service(collective_invoice)
        .service(list_invoices)
        .service(get_invoice)
        .service(update_invoice)
        .service(delete_invoice)
        .service(invoice_history)
        .service(post_invoice)
        .service(create_credit_note)
        .service(apply_credit_note)
        .service(refund_credit_note)
        .service(invoice_allocations)
        .service(invoice_order)
        .service(invoice_delivery)
        .service(credit_return)
        .service(create_payment)
        .service(list_payments)
        .service(get_payment)
        .service(payment_history)
        .service(allocate_payment)
        .service(reverse_allocation)
        .service(clear_payment)
        .service(bounce_payment)
        .service(refund_payment)
        .service(customer_statement)
        .service(customer_credit)
        .service(credit_report)
        .service(override_credit)
        .service(recurring_runs)
        .service(invoice_standard_lines)
        .service(invoice_lines::add_line)
        .service(invoice_lines::update_line)
        .service(invoice_lines::delete_line)
        .service(list_commissions)
        .service(create_commission_statement)
        .service(list_commission_statements)
        .service(pay_commission_statement)
        .service(run_collection)
        .service(dunning_notices)
        .service(create_promise)
        .service(list_promises)
        .service(aging_report)
        .service(exchange_differences);
}
