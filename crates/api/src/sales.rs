//! Sales document endpoints: quotations, sales orders, their lines and lifecycles,
//! approval routes, checklist templates and number series.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use ordo_core::body::MergePatch;
use ordo_core::Page;
use ordo_crm::pipeline::Reason;
use ordo_sales_docs::blanket::{
    self, BlanketOrder, BlanketOrderCreate, BlanketStatus, CallOffRequest, ScheduleLine, SchedulePatch, ScheduleRequest,
};
use ordo_sales_docs::docs::JournalStage;
use ordo_sales_docs::lines::{Line, LineInput};
use ordo_sales_docs::orders::{
    self, ApprovalDecision, Comment, ConvertInto, LineReduction, OrderChecklistPoint, OrderStatus, ProductionUpdate,
    Rejection, SalesOrder, SalesOrderCreate, Tick,
};
use ordo_sales_docs::quotations::{self, Quotation, QuotationCreate, QuotationStatus};
use ordo_sales_docs::setup::*;
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::common::PageQuery;
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

crate::team_resource!(Quotation, SalesOrder, ApprovalRoute, ChecklistTemplate, Line, BlanketOrder, ScheduleLine);

crate::list_query!(ApprovalRouteQuery => approval_route_service::Filter {
    order_type: Option<String>,
});

crate::crud_resource! {
    module: approval_routes,
    tag: "sales-setup",
    collection: "/approval-routes",
    member: "/approval-routes/{id}",
    history: "/approval-routes/{id}/history",
    location: "/api/v1/approval-routes/{}",
    model: ApprovalRoute,
    create: ApprovalRouteCreate,
    patch: MergePatch,
    query: ApprovalRouteQuery,
    service: ordo_sales_docs::setup::approval_route_service,
    ids: ["createApprovalRoute", "listApprovalRoutes", "getApprovalRoute", "updateApprovalRoute", "deleteApprovalRoute", "getApprovalRouteHistory"],
    summaries: ["Create an approval route for an order type", "List approval routes", "Get an approval route", "Update an approval route (merge-patch; orders already submitted keep their stages)", "Delete an approval route", "History of an approval route"],
}

crate::crud_resource! {
    module: checklist_templates,
    tag: "sales-setup",
    collection: "/checklist-templates",
    member: "/checklist-templates/{id}",
    history: "/checklist-templates/{id}/history",
    location: "/api/v1/checklist-templates/{}",
    model: ChecklistTemplate,
    create: ChecklistTemplateCreate,
    patch: MergePatch,
    query: PageQuery,
    service: ordo_sales_docs::setup::checklist_template_service,
    ids: ["createChecklistTemplate", "listChecklistTemplates", "getChecklistTemplate", "updateChecklistTemplate", "deleteChecklistTemplate", "getChecklistTemplateHistory"],
    summaries: ["Create a quality checklist template for an order type", "List checklist templates", "Get a checklist template", "Update a checklist template (merge-patch; existing orders keep their points)", "Delete a checklist template", "History of a checklist template"],
}

/// All number series with a preview of the next number.
#[utoipa::path(
    tag = "sales-setup",
    operation_id = "listNumberSeries",
    responses((status = 200, description = "Every series (one page)", body = Page<NumberSeries>))
)]
#[get("/number-series")]
pub async fn list_number_series(auth: Auth) -> Result<HttpResponse, Problem> {
    auth.list_one(number_series_service::list).await
}

/// Change a series' pattern (e.g. `SO-{YYYY}-{######}`) or move its counter forward.
#[utoipa::path(
    tag = "sales-setup",
    operation_id = "updateNumberSeries",
    params(("code" = String, Path, description = "Series code, e.g. `sales_order`")),
    request_body = NumberSeriesPatch,
    responses((status = 200, description = "Updated", body = NumberSeries))
)]
#[patch("/number-series/{code}")]
pub async fn update_number_series(
    auth: Auth,
    code: web::Path<String>,
    body: ValidJson<NumberSeriesPatch>,
) -> Result<HttpResponse, Problem> {
    let (code, p) = (code.into_inner(), body.0);
    Ok(HttpResponse::Ok().json(auth.write(move |c, caller| number_series_service::update(c, caller, code, p)).await?))
}

crate::list_query!(QuotationQuery => quotations::Filter {
    customer_id: Option<i64>,
    /// As of today: `expired` includes sent quotations past `valid_until`.
    status: Option<QuotationStatus>,
    opportunity_id: Option<i64>,
    /// Exact number: all revisions.
    number: Option<String>,
    /// Include archived quotations (default false).
    #[serde(default)]
    include_archived: bool,
} sort: crate::crud::DocumentSort = crate::crud::DocumentSort::IdDesc, documents: "quotation date");

crate::list_query!(BlanketOrderQuery => blanket::Filter {
    customer_id: Option<i64>,
    status: Option<BlanketStatus>,
    /// Include archived blanket orders (default false).
    #[serde(default)]
    include_archived: bool,
} sort: crate::crud::BlanketSort = crate::crud::BlanketSort::IdDesc, documents: "validity start");

crate::list_query!(SalesOrderQuery => orders::Filter {
    customer_id: Option<i64>,
    status: Option<OrderStatus>,
    quotation_id: Option<i64>,
    blanket_order_id: Option<i64>,
    number: Option<String>,
    /// Include archived orders (default false).
    #[serde(default)]
    include_archived: bool,
} sort: crate::crud::DocumentSort = crate::crud::DocumentSort::IdDesc, documents: "order date");

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// Stock and promise facts per stock line.
    Availability,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncludeQuery {
    /// `availability`: stock and promise facts per stock line.
    #[param(inline)]
    pub include: Option<Include>,
    /// Embed what the document refers to, comma-separated: `customer`, `contact`,
    /// `owner` (the customer's owner: display name), `sales_person`, `lines.item` (where
    /// lines are in the answer). One query per kind for the whole page.
    #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
    #[param(value_type = Option<Vec<ordo_sales_docs::expand::Expand>>, style = Form, explode = false)]
    pub expand: Vec<ordo_sales_docs::expand::Expand>,
}

/// Documents whose lines can carry availability (`?include=availability`).
trait WithAvailability {
    const KIND: Option<ordo_sales_docs::lines::DocKind>;
    fn lines_mut(&mut self) -> Option<&mut Vec<Line>>;
}

impl WithAvailability for Quotation {
    const KIND: Option<ordo_sales_docs::lines::DocKind> = Some(ordo_sales_docs::lines::DocKind::Quotation);
    fn lines_mut(&mut self) -> Option<&mut Vec<Line>> {
        self.lines.as_mut()
    }
}
impl WithAvailability for SalesOrder {
    const KIND: Option<ordo_sales_docs::lines::DocKind> = Some(ordo_sales_docs::lines::DocKind::SalesOrder);
    fn lines_mut(&mut self) -> Option<&mut Vec<Line>> {
        self.lines.as_mut()
    }
}
impl WithAvailability for BlanketOrder {
    const KIND: Option<ordo_sales_docs::lines::DocKind> = None;
    fn lines_mut(&mut self) -> Option<&mut Vec<Line>> {
        None
    }
}

fn add_availability<D: WithAvailability>(
    c: &mut ordo_db::DbConnection,
    caller: &ordo_core::Caller,
    id: i64,
    doc: &mut D,
) -> ordo_core::Result<()> {
    let Some(kind) = D::KIND else {
        return Err(ordo_core::DomainError::field(
            "include",
            "not_available",
            "blanket orders reserve nothing; ask their call-off orders",
        ));
    };
    let facts = ordo_fulfillment::promising::line_availability(c, caller, kind, id)?;
    if let Some(lines) = doc.lines_mut() {
        for l in lines.iter_mut() {
            l.availability = facts.get(&l.id).cloned();
        }
    }
    Ok(())
}

/// The standard endpoints of a priced document: create, list, get, header PATCH,
/// delete (drafts), history, and its lines.
macro_rules! document_resource {
    (
        module: $module:ident, tag: $tag:tt, name: $name:tt,
        collection: $collection:tt, member: $member:tt, history: $history:tt,
        lines: $lines:tt, line: $line:tt, location: $location:tt,
        model: $model:ty, row: $row:ty, create: $create:ty, query: $query:ty, service: $($service:ident)::+,
        ids: [$c:tt, $l:tt, $g:tt, $u:tt, $d:tt, $h:tt, $al:tt, $ul:tt, $dl:tt],
        summaries: [$cs:tt, $ls:tt, $gs:tt, $us:tt, $ds:tt, $hs:tt, $als:tt, $uls:tt, $dls:tt] $(,)?
    ) => {
        pub mod $module {
            use super::*;
            use crate::common::{history_page, removal_response, HistoryEntry};
            use crate::crud::{ListQuery, Resource};
            use actix_web::delete;
            use $($service)::+ as service;

            #[utoipa::path(tag = $tag, operation_id = $c, summary = $cs, request_body = $create,
                responses((status = 201, description = "Created", body = $model, headers(("ETag" = String), ("Location" = String)))))]
            #[post($collection)]
            pub async fn create_one(auth: Auth, body: ValidJson<$create>) -> Result<HttpResponse, Problem> {
                let (input, base) = (body.0, auth.db_state().config.base_currency);
                auth.post(
                    StatusCode::CREATED,
                    move |c, caller| service::create(c, caller, input, base),
                    |v| ReplyMeta { location: Some(format!($location, v.id())), version: Some(v.version()) },
                )
                .await
            }

            #[utoipa::path(tag = $tag, operation_id = $l, summary = $ls, params($query),
                responses((status = 200, description = "A page", body = Page<$model>)))]
            #[get($collection)]
            pub async fn list_all(auth: Auth, q: StrictQuery<$query>) -> Result<HttpResponse, Problem> {
                let (filter, page) = q.0.split()?;
                auth.list(page, move |c, caller, page| service::list(c, caller, &filter, page)).await
            }

            #[utoipa::path(tag = $tag, operation_id = $g, summary = $gs, params(("id" = i64, Path, description = "Id"), IncludeQuery),
                responses((status = 200, description = "Found", body = $model, headers(("ETag" = String)))))]
            #[get($member)]
            pub async fn get_one(auth: Auth, id: web::Path<i64>, q: StrictQuery<IncludeQuery>) -> Result<HttpResponse, Problem> {
                let (id, want, expand) = (id.into_inner(), q.0.include.is_some(), q.0.expand);
                let v = auth
                    .read(move |c, caller| {
                        let mut v = ordo_sales_docs::core::get::<$row>(c, caller, id)?;
                        if want {
                            add_availability(c, caller, id, &mut v)?;
                        }
                        ordo_sales_docs::expand::apply(c, std::slice::from_mut(&mut v), &expand)?;
                        Ok(v)
                    })
                    .await?;
                Ok(json_response(StatusCode::OK, &v, Some(v.version())))
            }

            #[utoipa::path(tag = $tag, operation_id = $u, summary = $us, params(("id" = i64, Path, description = "Id")),
                request_body(content = MergePatch, content_type = "application/merge-patch+json"),
                responses((status = 200, description = "Updated", body = $model, headers(("ETag" = String)))))]
            #[patch($member)]
            pub async fn update_one(auth: Auth, id: web::Path<i64>, if_match: IfMatch, body: ValidJson<MergePatch>) -> Result<HttpResponse, Problem> {
                let (id, p, base) = (id.into_inner(), body.0, auth.db_state().config.base_currency);
                let v = auth.write(move |c, caller| ordo_sales_docs::core::update::<$row>(c, caller, id, if_match.0, p, base)).await?;
                Ok(json_response(StatusCode::OK, &v, Some(v.version())))
            }

            #[utoipa::path(tag = $tag, operation_id = $d, summary = $ds, params(("id" = i64, Path, description = "Id")),
                responses((status = 204, description = "Deleted")))]
            #[delete($member)]
            pub async fn delete_one(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
                let id = id.into_inner();
                let r = auth.write(move |c, caller| service::delete(c, caller, id, if_match.0)).await?;
                Ok(removal_response(r, |v| v.version()))
            }

            #[utoipa::path(tag = $tag, operation_id = $h, summary = $hs, params(("id" = i64, Path, description = "Id"), PageQuery),
                responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>)))]
            #[get($history)]
            pub async fn history(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
                let (id, page) = (id.into_inner(), q.0.page()?);
                auth.list(page, move |c, caller, page| ordo_sales_docs::core::history::<$row>(c, caller, id, page).map(history_page)).await
            }

            crate::document_lines!(tag: $tag, lines: $lines, line: $line, model: $model,
                change: ordo_sales_docs::core::change_line::<$row>,
                ids: [$al, $ul, $dl], summaries: [$als, $uls, $dls]);

            pub fn routes(cfg: &mut crate::routing::Routes) {
                cfg.service(create_one)
                    .service(list_all)
                    .service(get_one)
                    .service(update_one)
                    .service(delete_one)
                    .service(history)
                    .service(add_line)
                    .service(update_line)
                    .service(delete_line);
            }
        }
    };
}

document_resource! {
    module: quotation_docs, tag: "quotations", name: "quotation",
    collection: "/quotations", member: "/quotations/{id}", history: "/quotations/{id}/history",
    lines: "/quotations/{id}/lines", line: "/quotations/{id}/lines/{line_id}", location: "/api/v1/quotations/{}",
    model: Quotation, row: ordo_sales_docs::quotations::QuotationRow, create: QuotationCreate, query: QuotationQuery, service: ordo_sales_docs::quotations,
    ids: ["createQuotation", "listQuotations", "getQuotation", "updateQuotation", "deleteQuotation", "getQuotationHistory",
          "addQuotationLine", "updateQuotationLine", "deleteQuotationLine"],
    summaries: ["Create a quotation priced by the price engine", "List quotations (without lines; an agent sees their customers' only)",
        "Get a quotation with its lines (`?include=availability` adds stock and promise facts per line)",
        "Change a draft quotation's header (merge-patch; the lines are re-priced)", "Delete a draft quotation",
        "Field-level history of a quotation", "Add a line to a draft quotation (the document is re-priced)",
        "Change one line of a draft quotation (merge-patch)", "Remove a line from a draft quotation"],
}

document_resource! {
    module: order_docs, tag: "sales-orders", name: "sales order",
    collection: "/sales-orders", member: "/sales-orders/{id}", history: "/sales-orders/{id}/history",
    lines: "/sales-orders/{id}/lines", line: "/sales-orders/{id}/lines/{line_id}", location: "/api/v1/sales-orders/{}",
    model: SalesOrder, row: ordo_sales_docs::orders::OrderRow, create: SalesOrderCreate, query: SalesOrderQuery, service: ordo_sales_docs::orders,
    ids: ["createSalesOrder", "listSalesOrders", "getSalesOrder", "updateSalesOrder", "deleteSalesOrder", "getSalesOrderHistory",
          "addSalesOrderLine", "updateSalesOrderLine", "deleteSalesOrderLine"],
    summaries: ["Create a sales order priced by the price engine", "List sales orders (without lines; an agent sees their customers' only)",
        "Get a sales order with its lines (`?include=availability` adds stock and promise facts per line)",
        "Change a draft sales order's header (merge-patch; the lines are re-priced)", "Delete a draft sales order",
        "Field-level history of a sales order", "Add a line to a draft sales order (the document is re-priced)",
        "Change one line of a draft sales order (merge-patch)", "Remove a line from a draft sales order"],
}

document_resource! {
    module: blanket_docs, tag: "blanket-orders", name: "blanket order",
    collection: "/blanket-orders", member: "/blanket-orders/{id}", history: "/blanket-orders/{id}/history",
    lines: "/blanket-orders/{id}/lines", line: "/blanket-orders/{id}/lines/{line_id}", location: "/api/v1/blanket-orders/{}",
    model: BlanketOrder, row: ordo_sales_docs::blanket::BlanketRow, create: BlanketOrderCreate, query: BlanketOrderQuery, service: ordo_sales_docs::blanket,
    ids: ["createBlanketOrder", "listBlanketOrders", "getBlanketOrder", "updateBlanketOrder", "deleteBlanketOrder", "getBlanketOrderHistory",
          "addBlanketOrderLine", "updateBlanketOrderLine", "deleteBlanketOrderLine"],
    summaries: ["Create a blanket order priced by the price engine", "List blanket orders (without lines; an agent sees their customers' only)",
        "Get a blanket order with its lines (`?include=availability` adds stock and promise facts per line)",
        "Change a draft blanket order's header (merge-patch; the lines are re-priced)", "Delete a draft blanket order",
        "Field-level history of a blanket order", "Add a line to a draft blanket order (the document is re-priced)",
        "Change one line of a draft blanket order (merge-patch)", "Remove a line from a draft blanket order"],
}

// ---- standard sales codes ---------------------------------------------------------------

crate::team_resource!(ordo_sales_docs::standard_codes::StandardCode);

crate::crud_resource! {
    module: standard_codes,
    tag: "sales-setup",
    collection: "/standard-sales-codes",
    member: "/standard-sales-codes/{id}",
    history: "/standard-sales-codes/{id}/history",
    location: "/api/v1/standard-sales-codes/{}",
    model: ordo_sales_docs::standard_codes::StandardCode,
    create: ordo_sales_docs::standard_codes::StandardCodeCreate,
    patch: MergePatch,
    query: PageQuery,
    service: ordo_sales_docs::standard_codes::service,
    ids: ["createStandardSalesCode", "listStandardSalesCodes", "getStandardSalesCode", "updateStandardSalesCode", "deleteStandardSalesCode", "getStandardSalesCodeHistory"],
    summaries: ["Create a standard sales code: a named set of lines (prices on it need `pricing` write)", "List standard sales codes", "Get a standard sales code", "Update a standard sales code (merge-patch)", "Delete a standard sales code", "History of a standard sales code"],
}

/// A draft document's line endpoints (`POST {lines}`, `PATCH`/`DELETE {line}`), each
/// answering with the re-priced document; `change` does the edit.
#[macro_export]
macro_rules! document_lines {
    (tag: $tag:tt, lines: $lines:tt, line: $line:tt, model: $model:ty, change: $change:expr,
     ids: [$al:tt, $ul:tt, $dl:tt], summaries: [$als:tt, $uls:tt, $dls:tt]) => {
            async fn change(auth: Auth, id: i64, if_match: IfMatch, change: ordo_sales_docs::core::LineChange) -> Result<HttpResponse, Problem> {
                let base = auth.db_state().config.base_currency;
                let v = auth.write(move |c, caller| $change(c, caller, id, if_match.0, change, base)).await?;
                Ok(json_response(StatusCode::OK, &v, Some(v.version())))
            }

            #[utoipa::path(tag = $tag, operation_id = $al, summary = $als, params(("id" = i64, Path, description = "Id")), request_body = LineInput,
                responses((status = 200, description = "The document with the new line", body = $model, headers(("ETag" = String)))))]
            #[post($lines)]
            pub async fn add_line(auth: Auth, id: web::Path<i64>, if_match: IfMatch, body: ValidJson<LineInput>) -> Result<HttpResponse, Problem> {
                change(auth, id.into_inner(), if_match, ordo_sales_docs::core::LineChange::Add(body.0)).await
            }

            #[utoipa::path(tag = $tag, operation_id = $ul, summary = $uls,
                params(("id" = i64, Path, description = "Id"), ("line_id" = i64, Path, description = "Line id")),
                request_body(content = MergePatch, content_type = "application/merge-patch+json"),
                responses((status = 200, description = "The re-priced document", body = $model, headers(("ETag" = String)))))]
            #[patch($line)]
            pub async fn update_line(auth: Auth, path: web::Path<(i64, i64)>, if_match: IfMatch, body: ValidJson<MergePatch>) -> Result<HttpResponse, Problem> {
                let (id, line) = path.into_inner();
                change(auth, id, if_match, ordo_sales_docs::core::LineChange::Patch(line, body.0)).await
            }

            #[utoipa::path(tag = $tag, operation_id = $dl, summary = $dls,
                params(("id" = i64, Path, description = "Id"), ("line_id" = i64, Path, description = "Line id")),
                responses((status = 200, description = "The re-priced document", body = $model, headers(("ETag" = String)))))]
            #[delete($line)]
            pub async fn delete_line(auth: Auth, path: web::Path<(i64, i64)>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
                let (id, line) = path.into_inner();
                change(auth, id, if_match, ordo_sales_docs::core::LineChange::Remove(line)).await
            }

    };
}

/// The standard-code line endpoint of a priced document: the code's lines are added
/// (re-pricing the document like any line edit).
#[macro_export]
macro_rules! from_standard_code {
    ($name:ident, $tag:tt, $op:tt, $path:tt, $model:ty, $row:ty, $change:expr) => {
        $crate::action! {
            /// Add a standard sales code's lines to a draft (priced by the engine, or at the
            /// code's prices); 404 naming `code` when there is no such code.
            fn $name, tag: $tag, id: $op, path: $path, model: $model,
            body: ordo_sales_docs::standard_codes::FromStandardCode, base: base,
            call: |c, caller, id, if_match, input| {
                // The role first: a caller who may not edit learns nothing of the codes.
                caller.require(<$row as ordo_sales_docs::core::Document>::WRITE)?;
                let ls = ordo_sales_docs::standard_codes::lines_of(c, &input.code)?;
                $change(c, caller, id, if_match, ordo_sales_docs::core::LineChange::AddStandard(ls), base)
            }
        }
    };
}
from_standard_code!(
    quotation_standard_lines,
    "quotations",
    "addQuotationStandardLines",
    "/quotations/{id}/lines/from-standard-code",
    Quotation,
    quotations::QuotationRow,
    ordo_sales_docs::core::change_line::<quotations::QuotationRow>
);
from_standard_code!(
    order_standard_lines,
    "sales-orders",
    "addSalesOrderStandardLines",
    "/sales-orders/{id}/lines/from-standard-code",
    SalesOrder,
    ordo_sales_docs::orders::OrderRow,
    ordo_sales_docs::core::change_line::<ordo_sales_docs::orders::OrderRow>
);
from_standard_code!(
    blanket_standard_lines,
    "blanket-orders",
    "addBlanketOrderStandardLines",
    "/blanket-orders/{id}/lines/from-standard-code",
    BlanketOrder,
    ordo_sales_docs::blanket::BlanketRow,
    ordo_sales_docs::core::change_line::<ordo_sales_docs::blanket::BlanketRow>
);

// ---- quotation lifecycle --------------------------------------------------------------

crate::action! {
    /// `draft → sent`: the quotation is offered; from now on it only changes by revision.
    /// This records the state only; `POST /quotations/{id}/email` mails the quotation (and
    /// offers a draft in the same step).
    fn send_quotation, tag: "quotations", id: "sendQuotation", path: "/quotations/{id}/send", model: Quotation,
    call: |c, caller, id, if_match| quotations::send(c, caller, id, if_match)
}
crate::action! {
    /// `sent → accepted` (409 when expired).
    fn accept_quotation, tag: "quotations", id: "acceptQuotation", path: "/quotations/{id}/accept", model: Quotation,
    call: |c, caller, id, if_match| quotations::accept(c, caller, id, if_match)
}
crate::action! {
    /// `sent → rejected`, with the customer's reason.
    fn reject_quotation, tag: "quotations", id: "rejectQuotation", path: "/quotations/{id}/reject", model: Quotation,
    body: Reason,
    call: |c, caller, id, if_match, input| quotations::reject(c, caller, id, if_match, input.reason)
}
crate::action! {
    /// `draft | sent → cancelled`.
    fn cancel_quotation, tag: "quotations", id: "cancelQuotation", path: "/quotations/{id}/cancel", model: Quotation,
    body: Reason,
    call: |c, caller, id, if_match, input| quotations::cancel(c, caller, id, if_match, input.reason)
}
crate::action! {
    /// Archive a closed quotation: read-only and out of default lists.
    fn archive_quotation, tag: "quotations", id: "archiveQuotation", path: "/quotations/{id}/archive", model: Quotation,
    call: |c, caller, id, if_match| quotations::archive(c, caller, id, if_match)
}
crate::action! {
    /// Make a new draft revision (same number, `revision` + 1, `previous_id` set); this
    /// one becomes `superseded`. The answer is the new revision.
    fn revise_quotation, tag: "quotations", id: "reviseQuotation", path: "/quotations/{id}/revise", model: Quotation,
    base: base,
    call: |c, caller, id, if_match| quotations::revise(c, caller, id, if_match, base)
}

/// `POST /quotations/{id}/convert`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertRequest {
    pub into: ConvertInto,
}

/// What a conversion made: the sales order or the blanket order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversion {
    pub quotation_id: i64,
    pub sales_order: Option<SalesOrder>,
    pub blanket_order: Option<BlanketOrder>,
}

/// Turn an accepted quotation into a draft sales order or blanket order with the quoted
/// lines and prices; both link to each other and a quotation converts once (409 after).
#[utoipa::path(
    tag = "quotations",
    operation_id = "convertQuotation",
    params(("id" = i64, Path, description = "Id")),
    request_body = ConvertRequest,
    responses((status = 201, description = "Converted", body = Conversion, headers(("Location" = String))))
)]
#[post("/quotations/{id}/convert")]
pub async fn convert_quotation(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<ConvertRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, into, base) = (id.into_inner(), body.0.into, auth.db_state().config.base_currency);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| match into {
            ConvertInto::SalesOrder => {
                let o = orders::from_quotation(c, caller, id, if_match.0, base)?;
                Ok(Conversion { quotation_id: id, sales_order: Some(o), blanket_order: None })
            }
            ConvertInto::BlanketOrder => {
                let b = blanket::from_quotation(c, caller, id, if_match.0, base)?;
                Ok(Conversion { quotation_id: id, sales_order: None, blanket_order: Some(b) })
            }
        },
        |v| ReplyMeta {
            location: match (&v.sales_order, &v.blanket_order) {
                (Some(o), _) => Some(format!("/api/v1/sales-orders/{}", o.id)),
                (_, Some(b)) => Some(format!("/api/v1/blanket-orders/{}", b.id)),
                _ => None,
            },
            version: None,
        },
    )
    .await
}

/// Generate a draft quotation from the opportunity's items, priced by the engine.
#[utoipa::path(
    tag = "quotations",
    operation_id = "quoteOpportunity",
    params(("id" = i64, Path, description = "Opportunity id")),
    responses((status = 201, description = "The new quotation", body = Quotation, headers(("ETag" = String), ("Location" = String))))
)]
#[post("/opportunities/{id}/quotation")]
pub async fn quote_opportunity(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    use crate::crud::Resource;
    let (id, base) = (id.into_inner(), auth.db_state().config.base_currency);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| quotations::from_opportunity(c, caller, id, base),
        |v| ReplyMeta { location: Some(format!("/api/v1/quotations/{}", v.id())), version: Some(v.version()) },
    )
    .await
}

// ---- sales order lifecycle -------------------------------------------------------------

crate::action! {
    /// Put a draft on the approval route of its type (approved at once when no stage
    /// applies); redeems its coupon.
    fn submit_order, tag: "sales-orders", id: "submitSalesOrder", path: "/sales-orders/{id}/submit", model: SalesOrder,
    call: |c, caller, id, if_match| orders::submit(c, caller, id, if_match)
}
crate::action! {
    /// Pass the open approval stage (needs the stage's role). Naming `stage` makes a
    /// late second approval of the same stage a 409.
    fn approve_order, tag: "sales-orders", id: "approveSalesOrder", path: "/sales-orders/{id}/approve", model: SalesOrder,
    body: ApprovalDecision,
    call: |c, caller, id, if_match, input| orders::approve(c, caller, id, if_match, input)
}
crate::action! {
    /// Reject at the open stage: the order is cancelled with the reason.
    fn reject_order, tag: "sales-orders", id: "rejectSalesOrder", path: "/sales-orders/{id}/reject", model: SalesOrder,
    body: Rejection,
    call: |c, caller, id, if_match, input| orders::reject(c, caller, id, if_match, input)
}
crate::action! {
    /// `approved → in_execution`: needs a contract number, payment terms and every
    /// required checklist point ticked (422 naming what is missing). Reserves each stock
    /// line in its warehouse (the line's, else the order's, else the customer's default,
    /// else the company's default) in the same transaction; what is missing is
    /// back-ordered there (see `/sales-orders/{id}/stock`).
    fn confirm_order, tag: "sales-orders", id: "confirmSalesOrder", path: "/sales-orders/{id}/confirm", model: SalesOrder,
    call: |c, caller, id, if_match| ordo_fulfillment::reservations::confirm(c, caller, id, if_match)
}
crate::action! {
    /// Cancel an open order with a reason; releases its coupon, its reservations and
    /// what it called off a blanket order, and cancels its draft deliveries. A picked
    /// delivery is a 409 `delivery_picked`: its goods are at the dock, so ship it or
    /// cancel it first.
    fn cancel_order, tag: "sales-orders", id: "cancelSalesOrder", path: "/sales-orders/{id}/cancel", model: SalesOrder,
    body: Reason,
    call: |c, caller, id, if_match, input| ordo_fulfillment::reservations::cancel(c, caller, id, if_match, input.reason)
}
crate::action! {
    /// Close an order in execution short, with a reason: what was delivered stays, what
    /// it still holds or waits for is released (and serves other back-orders), its
    /// draft deliveries are cancelled, and the order is `completed` with the reason.
    /// A picked delivery is a 409 `delivery_picked`: ship or cancel it first.
    fn close_order, tag: "sales-orders", id: "closeSalesOrder", path: "/sales-orders/{id}/close", model: SalesOrder,
    body: Reason,
    call: |c, caller, id, if_match, input| ordo_fulfillment::reservations::close(c, caller, id, if_match, input.reason)
}
crate::action! {
    /// Archive a cancelled or completed order: read-only, out of default lists.
    fn archive_order, tag: "sales-orders", id: "archiveSalesOrder", path: "/sales-orders/{id}/archive", model: SalesOrder,
    call: |c, caller, id, if_match| orders::archive(c, caller, id, if_match)
}

/// Report production progress and actual cost on one order line (planning systems).
#[utoipa::path(
    tag = "sales-orders",
    operation_id = "updateSalesOrderLineProduction",
    params(("id" = i64, Path, description = "Order id"), ("line_id" = i64, Path, description = "Line id")),
    request_body = ProductionUpdate,
    responses((status = 200, description = "The line", body = Line, headers(("ETag" = String))))
)]
#[patch("/sales-orders/{id}/lines/{line_id}/production")]
pub async fn update_production(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<ProductionUpdate>,
) -> Result<HttpResponse, Problem> {
    let ((id, line), p) = (path.into_inner(), body.0);
    let v = auth.write(move |c, caller| orders::update_production(c, caller, id, line, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Reduce one line of an approved or executing order (the customer takes less). The
/// agreed unit price stands; the line's discount, net and tax shrink in proportion and
/// the totals move by the difference. On a confirmed order the stock the line no longer
/// needs is released (back-order first, then reservation) in the same transaction.
/// Less than is delivered or on open deliveries is 422 `below_delivered`.
#[utoipa::path(
    tag = "sales-orders",
    operation_id = "reduceSalesOrderLine",
    params(("id" = i64, Path, description = "Order id"), ("line_id" = i64, Path, description = "Line id")),
    request_body = LineReduction,
    responses((status = 200, description = "The order", body = SalesOrder, headers(("ETag" = String))))
)]
#[post("/sales-orders/{id}/lines/{line_id}/reduce")]
pub async fn reduce_line(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<LineReduction>,
) -> Result<HttpResponse, Problem> {
    let ((id, line), r) = (path.into_inner(), body.0);
    let v = auth
        .write(move |c, caller| ordo_fulfillment::reservations::reduce_line(c, caller, id, line, if_match.0, r))
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Comments and events of the order, grouped by the stage they happened in.
#[utoipa::path(
    tag = "sales-orders",
    operation_id = "getSalesOrderJournal",
    params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, description = "The journal, oldest first", body = Vec<JournalStage>))
)]
#[get("/sales-orders/{id}/journal")]
pub async fn order_journal(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| orders::journal(c, caller, id)).await?))
}

/// Add a comment to the order's journal (in its current stage).
#[utoipa::path(
    tag = "sales-orders",
    operation_id = "commentSalesOrder",
    params(("id" = i64, Path, description = "Order id")),
    request_body = Comment,
    responses((status = 201, description = "The journal with the comment", body = Vec<JournalStage>))
)]
#[post("/sales-orders/{id}/comments")]
pub async fn comment_order(auth: Auth, id: web::Path<i64>, body: ValidJson<Comment>) -> Result<HttpResponse, Problem> {
    let (id, c_) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| orders::comment(c, caller, id, c_),
        move |_| ReplyMeta { location: Some(format!("/api/v1/sales-orders/{id}/journal")), version: None },
    )
    .await
}

/// The order's quality checklist (copied from the template of its type).
#[utoipa::path(
    tag = "sales-orders",
    operation_id = "getSalesOrderChecklist",
    params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, description = "The points in order", body = Vec<OrderChecklistPoint>))
)]
#[get("/sales-orders/{id}/checklist")]
pub async fn order_checklist(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| orders::checklist(c, caller, id)).await?))
}

/// Tick (or clear) a checklist point, with who, when and a comment.
#[utoipa::path(
    tag = "sales-orders",
    operation_id = "tickSalesOrderChecklistPoint",
    params(("id" = i64, Path, description = "Order id"), ("point_id" = i64, Path, description = "Point id")),
    request_body = Tick,
    responses((status = 200, description = "The checklist", body = Vec<OrderChecklistPoint>))
)]
#[post("/sales-orders/{id}/checklist/{point_id}/tick")]
pub async fn tick_point(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    body: ValidJson<Tick>,
) -> Result<HttpResponse, Problem> {
    let ((id, point), t) = (path.into_inner(), body.0);
    auth.post(
        StatusCode::OK,
        move |c, caller| orders::tick(c, caller, id, point, t),
        |_| ReplyMeta { location: None, version: None },
    )
    .await
}

// ---- blanket orders ------------------------------------------------------------------------

crate::action! {
    /// `draft → active`: call-offs may be made within the validity dates.
    fn activate_blanket, tag: "blanket-orders", id: "activateBlanketOrder", path: "/blanket-orders/{id}/activate", model: BlanketOrder,
    call: |c, caller, id, if_match| blanket::activate(c, caller, id, if_match)
}
crate::action! {
    /// `active → closed`: no more call-offs.
    fn close_blanket, tag: "blanket-orders", id: "closeBlanketOrder", path: "/blanket-orders/{id}/close", model: BlanketOrder,
    call: |c, caller, id, if_match| blanket::close(c, caller, id, if_match)
}
crate::action! {
    /// `draft | active → cancelled`.
    fn cancel_blanket, tag: "blanket-orders", id: "cancelBlanketOrder", path: "/blanket-orders/{id}/cancel", model: BlanketOrder,
    body: Reason,
    call: |c, caller, id, if_match, input| blanket::cancel(c, caller, id, if_match, input.reason)
}
crate::action! {
    /// Archive a closed or cancelled blanket order.
    fn archive_blanket, tag: "blanket-orders", id: "archiveBlanketOrder", path: "/blanket-orders/{id}/archive", model: BlanketOrder,
    call: |c, caller, id, if_match| blanket::archive(c, caller, id, if_match)
}

/// The delivery schedule: dated quantities per line, earliest first.
#[utoipa::path(
    tag = "blanket-orders",
    operation_id = "getBlanketOrderSchedule",
    params(("id" = i64, Path, description = "Blanket order id")),
    responses((status = 200, description = "Schedule lines", body = Vec<ScheduleLine>))
)]
#[get("/blanket-orders/{id}/schedule")]
pub async fn blanket_schedule(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| blanket::schedule(c, caller, id)).await?))
}

/// Generate a line's schedule: a quantity per week or month between two dates
/// (replaces that line's schedule).
#[utoipa::path(
    tag = "blanket-orders",
    operation_id = "generateBlanketOrderSchedule",
    params(("id" = i64, Path, description = "Blanket order id")),
    request_body = ScheduleRequest,
    responses((status = 201, description = "The whole schedule", body = Vec<ScheduleLine>))
)]
#[post("/blanket-orders/{id}/schedule")]
pub async fn generate_schedule(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ScheduleRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, r) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| blanket::generate_schedule(c, caller, id, r),
        move |_| ReplyMeta { location: Some(format!("/api/v1/blanket-orders/{id}/schedule")), version: None },
    )
    .await
}

/// Move or resize one schedule line.
#[utoipa::path(
    tag = "blanket-orders",
    operation_id = "updateBlanketOrderScheduleLine",
    params(("id" = i64, Path, description = "Blanket order id"), ("schedule_id" = i64, Path, description = "Schedule line id")),
    request_body = SchedulePatch,
    responses((status = 200, description = "Updated", body = ScheduleLine, headers(("ETag" = String))))
)]
#[patch("/blanket-orders/{id}/schedule/{schedule_id}")]
pub async fn update_schedule_line(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<SchedulePatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, sid), p) = (path.into_inner(), body.0);
    let v = auth.write(move |c, caller| blanket::update_schedule_line(c, caller, id, sid, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Remove one schedule line.
#[utoipa::path(
    tag = "blanket-orders",
    operation_id = "deleteBlanketOrderScheduleLine",
    params(("id" = i64, Path, description = "Blanket order id"), ("schedule_id" = i64, Path, description = "Schedule line id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/blanket-orders/{id}/schedule/{schedule_id}")]
pub async fn delete_schedule_line(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, sid) = path.into_inner();
    auth.write(move |c, caller| blanket::delete_schedule_line(c, caller, id, sid)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Create a draft sales order against the blanket order at the agreed prices,
/// consuming quantity (or value). More than is left is 422 `blanket_exceeded` unless
/// `allow_exceeding` with the `blanket_override` permission.
#[utoipa::path(
    tag = "blanket-orders",
    operation_id = "callOffBlanketOrder",
    params(("id" = i64, Path, description = "Blanket order id")),
    request_body = CallOffRequest,
    responses((status = 201, description = "The call-off order", body = SalesOrder, headers(("ETag" = String), ("Location" = String))))
)]
#[post("/blanket-orders/{id}/call-off")]
pub async fn call_off(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CallOffRequest>,
) -> Result<HttpResponse, Problem> {
    use crate::crud::Resource;
    let (id, r, base) = (id.into_inner(), body.0, auth.db_state().config.base_currency);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| blanket::call_off(c, caller, id, r, base),
        |v| ReplyMeta { location: Some(format!("/api/v1/sales-orders/{}", v.id())), version: Some(v.version()) },
    )
    .await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    blanket_docs::routes(cfg);
    standard_codes::routes(cfg);
    cfg.service(quotation_standard_lines).service(order_standard_lines).service(blanket_standard_lines);
    cfg.service(activate_blanket)
        .service(close_blanket)
        .service(cancel_blanket)
        .service(archive_blanket)
        .service(blanket_schedule)
        .service(generate_schedule)
        .service(update_schedule_line)
        .service(delete_schedule_line)
        .service(call_off);
    approval_routes::routes(cfg);
    checklist_templates::routes(cfg);
    quotation_docs::routes(cfg);
    order_docs::routes(cfg);
    cfg.service(list_number_series)
        .service(update_number_series)
        .service(send_quotation)
        .service(accept_quotation)
        .service(reject_quotation)
        .service(cancel_quotation)
        .service(archive_quotation)
        .service(revise_quotation)
        .service(convert_quotation)
        .service(quote_opportunity)
        .service(submit_order)
        .service(approve_order)
        .service(reject_order)
        .service(confirm_order)
        .service(cancel_order)
        .service(close_order)
        .service(archive_order)
        .service(update_production)
        .service(reduce_line)
        .service(order_journal)
        .service(comment_order)
        .service(order_checklist)
        .service(tick_point);
}
