//! Fulfillment endpoints: warehouses, stock postings, balances, the ledger and
//! reservations.

use actix_web::http::StatusCode;
use actix_web::{get, post, put, web, HttpResponse};
use ordo_core::body::MergePatch;
use ordo_core::Page;
use ordo_fulfillment::reservations::{
    self, LineStock, Reservation, ReservationCreate, ReservationMove, ReservationStatus,
};
use ordo_fulfillment::stock::*;

use crate::common::{ExpandQuery, PageQuery};
use crate::crud::{ListQuery, Resource};
use crate::extract::{json_response, Auth, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

crate::team_resource!(Warehouse, Reservation);

crate::list_query!(WarehouseQuery => warehouse_service::Filter {
    active: Option<bool>,
});
crate::list_query!(BalanceQuery => BalanceFilter {
    item_id: Option<i64>,
    warehouse_id: Option<i64>,
});
crate::list_query!(LedgerQuery => LedgerFilter {
    item_id: Option<i64>,
    warehouse_id: Option<i64>,
    kind: Option<MovementKind>,
});
crate::list_query!(ReservationQuery => reservations::Filter {
    item_id: Option<i64>,
    warehouse_id: Option<i64>,
    sales_order_id: Option<i64>,
    status: Option<ReservationStatus>,
});

crate::crud_resource! {
    module: warehouse_docs,
    tag: "stock",
    collection: "/warehouses",
    member: "/warehouses/{id}",
    history: "/warehouses/{id}/history",
    location: "/api/v1/warehouses/{}",
    model: Warehouse,
    create: WarehouseCreate,
    patch: MergePatch,
    query: WarehouseQuery,
    service: ordo_fulfillment::stock::warehouse_service,
    ids: ["createWarehouse", "listWarehouses", "getWarehouse", "updateWarehouse", "deleteWarehouse", "getWarehouseHistory"],
    summaries: ["Create a warehouse", "List warehouses", "Get a warehouse", "Update a warehouse (merge-patch)", "Delete a warehouse that never held stock", "History of a warehouse"],
}

macro_rules! posting {
    ($name:ident, $op:tt, $path:tt, $body:ty, $call:path, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            tag = "stock",
            operation_id = $op,
            request_body = $body,
            responses((status = 201, description = "Posted: the ledger entries and the balances after", body = Posting))
        )]
        #[post($path)]
        pub async fn $name(auth: Auth, body: ValidJson<$body>) -> Result<HttpResponse, Problem> {
            let r = body.0;
            auth.post(StatusCode::CREATED, move |c, caller| $call(c, caller, r), |_| ReplyMeta { location: None, version: None })
                .await
        }
    };
}

posting!(receive, "postStockReceipt", "/stock/receipts", ReceiptRequest, ordo_fulfillment::stock::receive,
    "Goods in, at a unit cost. Back-ordered order lines of the item in that warehouse are reserved from it at once, oldest requested date first.");
posting!(adjust, "postStockAdjustment", "/stock/adjustments", AdjustmentRequest, ordo_fulfillment::stock::adjust,
    "A count correction with its reason. Stock may not go below what is reserved (422 `insufficient_stock`) unless the item allows negative stock.");
posting!(
    transfer,
    "postStockTransfer",
    "/stock/transfers",
    TransferRequest,
    ordo_fulfillment::stock::transfer,
    "Move stock between two warehouses (two ledger entries, one transaction)."
);

/// On hand, reserved and available per item and warehouse.
#[utoipa::path(tag = "stock", operation_id = "listStockBalances", params(BalanceQuery),
    responses((status = 200, description = "A page", body = Page<Balance>)))]
#[get("/stock/balances")]
pub async fn balances(auth: Auth, q: StrictQuery<BalanceQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| ordo_fulfillment::stock::balances(c, caller, &f, page)).await
}

/// The stock ledger: every movement, oldest first.
#[utoipa::path(tag = "stock", operation_id = "listStockLedger", params(LedgerQuery),
    responses((status = 200, description = "A page", body = Page<LedgerEntry>)))]
#[get("/stock/ledger")]
pub async fn ledger(auth: Auth, q: StrictQuery<LedgerQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| ordo_fulfillment::stock::ledger(c, caller, &f, page)).await
}

/// Hold stock for a back-ordered order line or a customer: 422 `insufficient_stock`
/// when it is not free, and nothing is held then.
#[utoipa::path(tag = "stock", operation_id = "createReservation", request_body = ReservationCreate,
    responses((status = 201, description = "Reserved", body = Reservation, headers(("ETag" = String), ("Location" = String)))))]
#[post("/reservations")]
pub async fn create_reservation(auth: Auth, body: ValidJson<ReservationCreate>) -> Result<HttpResponse, Problem> {
    let r = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| reservations::create(c, caller, r),
        |v| ReplyMeta { location: Some(format!("/api/v1/reservations/{}", v.id())), version: Some(v.version()) },
    )
    .await
}

/// List reservations (an agent: their customers').
#[utoipa::path(tag = "stock", operation_id = "listReservations", params(ReservationQuery),
    responses((status = 200, description = "A page", body = Page<Reservation>)))]
#[get("/reservations")]
pub async fn list_reservations(auth: Auth, q: StrictQuery<ReservationQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| reservations::list(c, caller, &f, page)).await
}

/// Get a reservation.
#[utoipa::path(tag = "stock", operation_id = "getReservation", params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Found", body = Reservation, headers(("ETag" = String)))))]
#[get("/reservations/{id}")]
pub async fn get_reservation(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let v = auth.read(move |c, caller| reservations::get(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

crate::history_endpoint! {
    /// History of a reservation.
    fn reservation_history, tag: "stock", id: "getReservationHistory", path: "/reservations/{id}/history",
    call: |c, caller, id, page| reservations::history(c, caller, id, page)
}

crate::action! {
    /// Move the whole reservation to another warehouse (422 `insufficient_stock` when it
    /// is not free there; 409 `on_open_delivery` when an open delivery carries it).
    fn move_reservation, tag: "stock", id: "moveReservation", path: "/reservations/{id}/move", model: Reservation,
    body: ReservationMove,
    call: |c, caller, id, if_match, input| reservations::move_to(c, caller, id, if_match, input)
}
crate::action! {
    /// Release a reservation; an order line's quantity becomes back-ordered again (409
    /// `on_open_delivery` when an open delivery carries it: ship or cancel that first).
    fn release_reservation, tag: "stock", id: "releaseReservation", path: "/reservations/{id}/release", model: Reservation,
    call: |c, caller, id, if_match| reservations::release(c, caller, id, if_match)
}

/// Everything that blocks the order's next step, at once.
///
/// A draft needs lines to be submitted; a pending order waits for its open approval
/// stages; an approved order needs a contract number, payment terms and every required
/// checklist point for confirmation (confirm's 422 lists the same); an order in
/// execution needs stock to deliver. `notes` adds what is worth knowing: what
/// confirmation will need later, and stock that would be or is back-ordered.
#[utoipa::path(tag = "sales-orders", operation_id = "getSalesOrderReadiness", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, description = "What blocks the next step", body = ordo_fulfillment::readiness::Readiness)))]
#[get("/sales-orders/{id}/readiness")]
pub async fn order_readiness(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok()
        .json(auth.read(move |c, caller| ordo_fulfillment::readiness::readiness(c, caller, id)).await?))
}

/// Per stock line of a confirmed order: ordered, reserved, back-ordered, delivered,
/// returned (base units), what open deliveries carry, where the reserved stock is held
/// (per warehouse) and the promised date. No prices: the warehouse reads it too.
#[utoipa::path(tag = "stock", operation_id = "getSalesOrderStock", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, description = "The stock lines", body = Vec<LineStock>)))]
#[get("/sales-orders/{id}/stock")]
pub async fn order_stock(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| reservations::order_stock(c, caller, id)).await?))
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    warehouse_docs::routes(cfg);
    cfg.service(receive)
        .service(adjust)
        .service(transfer)
        .service(balances)
        .service(ledger)
        .service(create_reservation)
        .service(list_reservations)
        .service(get_reservation)
        .service(reservation_history)
        .service(move_reservation)
        .service(release_reservation)
        .service(order_stock)
        .service(order_readiness);
    delivery_routes(cfg);
    availability_routes(cfg);
    promising_routes(cfg);
}

// ---- deliveries and returns ----------------------------------------------------------------

use ordo_fulfillment::deliveries::{
    self, Delivery, DeliveryCreate, DeliveryStatus, Return, ReturnCreate, ReturnReceive, ShipRequest,
};

crate::team_resource!(Delivery, Return);

crate::list_query!(DeliveryQuery => deliveries::Filter {
    sales_order_id: Option<i64>,
    status: Option<DeliveryStatus>,
} sort: crate::crud::DeliverySort = crate::crud::DeliverySort::IdDesc, documents: "creation date");

crate::list_query!(ReturnQuery => deliveries::ReturnFilter {
    delivery_id: Option<i64>,
} sort: crate::crud::DeliverySort = crate::crud::DeliverySort::IdDesc, documents: "creation date");

/// Create a delivery of a confirmed order from the stock its lines hold in one
/// warehouse: all lines, or the chosen lines and quantities. An order not in execution
/// is 409; stock held in several warehouses without `warehouse_id` is 422
/// `warehouse_required`; more than is held there and not on another delivery is 422
/// `not_deliverable` (concurrent requests for the same stock: exactly one succeeds).
#[utoipa::path(tag = "deliveries", operation_id = "createDelivery", params(("id" = i64, Path, description = "Order id")),
    request_body = DeliveryCreate,
    responses((status = 201, description = "The draft delivery", body = Delivery, headers(("ETag" = String), ("Location" = String)))))]
#[post("/sales-orders/{id}/deliveries")]
pub async fn create_delivery(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<DeliveryCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| deliveries::create(c, caller, id, input),
        |v| ReplyMeta { location: Some(format!("/api/v1/deliveries/{}", v.id())), version: Some(v.version()) },
    )
    .await
}

/// List deliveries (an agent: their customers').
#[utoipa::path(tag = "deliveries", operation_id = "listDeliveries", params(DeliveryQuery),
    responses((status = 200, description = "A page", body = Page<Delivery>)))]
#[get("/deliveries")]
pub async fn list_deliveries(auth: Auth, q: StrictQuery<DeliveryQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| deliveries::list(c, caller, &f, page)).await
}

/// Get a delivery.
#[utoipa::path(tag = "deliveries", operation_id = "getDelivery", params(("id" = i64, Path, description = "Id"), ExpandQuery),
    responses((status = 200, description = "Found", body = Delivery, headers(("ETag" = String)))))]
#[get("/deliveries/{id}")]
pub async fn get_delivery(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<ExpandQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, expand) = (id.into_inner(), q.0.expand);
    let v = auth
        .read(move |c, caller| {
            let mut v = deliveries::get(c, caller, id)?;
            ordo_sales_docs::expand::apply(c, std::slice::from_mut(&mut v), &expand)?;
            Ok(v)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// The delivery note, by content negotiation: `text/html` (the default) or
/// `application/pdf`, from the delivery-note template for `language` (a stored one,
/// else the built-in one); other types are 406.
#[utoipa::path(tag = "deliveries", operation_id = "getDeliveryDocument",
    params(("id" = i64, Path, description = "Id"), crate::documents::DocumentQuery),
    responses((status = 200, description = "The delivery note", content((String = "text/html"), (Vec<u8> = "application/pdf")))))]
#[get("/deliveries/{id}/document")]
pub async fn delivery_document(
    auth: Auth,
    req: actix_web::HttpRequest,
    id: web::Path<i64>,
    q: crate::extract::StrictQuery<crate::documents::DocumentQuery>,
) -> Result<HttpResponse, Problem> {
    crate::documents::document(auth, req, crate::documents::DocumentKind::DeliveryNote, id.into_inner(), q.0).await
}

crate::history_endpoint! {
    /// History of a delivery: creation, each state change, the shipping details.
    fn delivery_history, tag: "deliveries", id: "getDeliveryHistory", path: "/deliveries/{id}/history",
    call: |c, caller, id, page| deliveries::history(c, caller, id, page)
}

crate::action! {
    /// `draft → picked`.
    fn pick_delivery, tag: "deliveries", id: "pickDelivery", path: "/deliveries/{id}/pick", model: Delivery,
    call: |c, caller, id, if_match| deliveries::pick(c, caller, id, if_match)
}
crate::action! {
    /// Ship: posts the ledger, consumes the reservation, counts the delivered quantity;
    /// the order completes when everything is delivered. Shipping twice is 409, and so
    /// is shipping for an order that is no longer in execution.
    fn ship_delivery, tag: "deliveries", id: "shipDelivery", path: "/deliveries/{id}/ship", model: Delivery,
    body: ShipRequest,
    call: |c, caller, id, if_match, input| deliveries::ship(c, caller, id, if_match, input)
}
crate::action! {
    /// Cancel a delivery that has not shipped; its stock stays reserved for the order.
    fn cancel_delivery, tag: "deliveries", id: "cancelDelivery", path: "/deliveries/{id}/cancel", model: Delivery,
    call: |c, caller, id, if_match| deliveries::cancel(c, caller, id, if_match)
}

/// Authorise a return against a shipped delivery's lines (more than delivered is 422).
#[utoipa::path(tag = "deliveries", operation_id = "createReturn", request_body = ReturnCreate,
    responses((status = 201, description = "Authorised", body = Return, headers(("ETag" = String), ("Location" = String)))))]
#[post("/returns")]
pub async fn create_return(auth: Auth, body: ValidJson<ReturnCreate>) -> Result<HttpResponse, Problem> {
    let r = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| deliveries::create_return(c, caller, r),
        |v| ReplyMeta { location: Some(format!("/api/v1/returns/{}", v.id())), version: Some(v.version()) },
    )
    .await
}

crate::history_endpoint! {
    /// History of a return authorisation: creation and receipt.
    fn return_history, tag: "deliveries", id: "getReturnHistory", path: "/returns/{id}/history",
    call: |c, caller, id, page| deliveries::return_history(c, caller, id, page)
}

/// List returns.
#[utoipa::path(tag = "deliveries", operation_id = "listReturns", params(ReturnQuery),
    responses((status = 200, description = "A page", body = Page<Return>)))]
#[get("/returns")]
pub async fn list_returns(auth: Auth, q: StrictQuery<ReturnQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = crate::crud::ListQuery::split(q.0)?;
    auth.list(page, move |c, caller, page| deliveries::list_returns(c, caller, &f, page)).await
}

/// Get a return.
#[utoipa::path(tag = "deliveries", operation_id = "getReturn", params(("id" = i64, Path, description = "Id"), ExpandQuery),
    responses((status = 200, description = "Found", body = Return, headers(("ETag" = String)))))]
#[get("/returns/{id}")]
pub async fn get_return(auth: Auth, id: web::Path<i64>, q: StrictQuery<ExpandQuery>) -> Result<HttpResponse, Problem> {
    let (id, expand) = (id.into_inner(), q.0.expand);
    let v = auth
        .read(move |c, caller| {
            let mut v = deliveries::get_return(c, caller, id)?;
            ordo_sales_docs::expand::apply(c, std::slice::from_mut(&mut v), &expand)?;
            Ok(v)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

crate::action! {
    /// Receive the returned goods into a warehouse (or a quarantine warehouse) through the ledger.
    fn receive_return, tag: "deliveries", id: "receiveReturn", path: "/returns/{id}/receive", model: Return,
    body: ReturnReceive,
    call: |c, caller, id, if_match, input| deliveries::receive_return(c, caller, id, if_match, input)
}

pub fn delivery_routes(cfg: &mut crate::routing::Routes) {
    cfg.service(create_delivery)
        .service(list_deliveries)
        .service(get_delivery)
        .service(delivery_history)
        .service(delivery_document)
        .service(pick_delivery)
        .service(ship_delivery)
        .service(cancel_delivery)
        .service(create_return)
        .service(list_returns)
        .service(get_return)
        .service(return_history)
        .service(receive_return);
}

// ---- expected receipts, availability, completeness --------------------------------------------

use ordo_fulfillment::availability::{
    self, expected_receipt_service, Availability, ExpectedReceipt, ExpectedReceiptCreate, ExpectedStatus,
    OrderCompleteness,
};

crate::team_resource!(ExpectedReceipt);

crate::list_query!(ExpectedReceiptQuery => expected_receipt_service::Filter {
    item_id: Option<i64>,
    warehouse_id: Option<i64>,
    /// `open` ones count in availability; received and cancelled ones drop out.
    status: Option<ExpectedStatus>,
});

crate::crud_resource! {
    module: expected_receipt_docs,
    tag: "stock",
    collection: "/expected-receipts",
    member: "/expected-receipts/{id}",
    history: "/expected-receipts/{id}/history",
    location: "/api/v1/expected-receipts/{}",
    model: ExpectedReceipt,
    create: ExpectedReceiptCreate,
    patch: MergePatch,
    query: ExpectedReceiptQuery,
    service: ordo_fulfillment::availability::expected_receipt_service,
    ids: ["createExpectedReceipt", "listExpectedReceipts", "getExpectedReceipt", "updateExpectedReceipt", "deleteExpectedReceipt", "getExpectedReceiptHistory"],
    summaries: ["Announce an expected receipt (purchasing or planning)", "List expected receipts", "Get an expected receipt", "Update an expected receipt (merge-patch; `status: received|cancelled` drops it out)", "Delete an expected receipt", "History of an expected receipt"],
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// One warehouse; default all.
    pub warehouse_id: Option<i64>,
    /// Last date of the projection; default 90 days ahead.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<time::Date>,
}

/// On hand, reserved, available now, and a dated projection (open expected receipts
/// in, uncovered firm demand out by requested date) with available-to-promise per date.
/// Without `warehouse_id` it sums every warehouse except quarantine ones.
#[utoipa::path(tag = "stock", operation_id = "getItemAvailability",
    params(("id" = i64, Path, description = "Item id"), AvailabilityQuery),
    responses((status = 200, description = "Availability", body = Availability)))]
#[get("/items/{id}/availability")]
pub async fn item_availability(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<AvailabilityQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, wh, to) = (id.into_inner(), q.0.warehouse_id, q.0.to);
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| availability::availability(c, caller, id, wh, to)).await?))
}

/// Orders in execution that can ship now in full, in part or not at all, with the
/// missing quantities and the expected date that would complete them.
#[utoipa::path(tag = "reports", operation_id = "getOrderCompletenessReport", params(PageQuery),
    responses((status = 200, description = "A page of orders", body = Page<OrderCompleteness>)))]
#[get("/reports/order-completeness")]
pub async fn order_completeness(auth: Auth, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let page = q.0.page()?;
    auth.list(page, availability::completeness).await
}

pub fn availability_routes(cfg: &mut crate::routing::Routes) {
    expected_receipt_docs::routes(cfg);
    cfg.service(item_availability).service(order_completeness);
}

// ---- promising ---------------------------------------------------------------------------------

use ordo_fulfillment::promising::{
    self, replenishment_service, Calendar, Promise, PromiseRequest, Replenishment, ReplenishmentCreate,
};

crate::team_resource!(Replenishment);

crate::list_query!(ReplenishmentQuery => replenishment_service::Filter {
    item_id: Option<i64>,
});

crate::crud_resource! {
    module: replenishment_docs,
    tag: "stock",
    collection: "/replenishment-parameters",
    member: "/replenishment-parameters/{id}",
    history: "/replenishment-parameters/{id}/history",
    location: "/api/v1/replenishment-parameters/{}",
    model: Replenishment,
    create: ReplenishmentCreate,
    patch: MergePatch,
    query: ReplenishmentQuery,
    service: ordo_fulfillment::promising::replenishment_service,
    ids: ["createReplenishmentParameters", "listReplenishmentParameters", "getReplenishmentParameters", "updateReplenishmentParameters", "deleteReplenishmentParameters", "getReplenishmentParametersHistory"],
    summaries: ["Set how an item is replenished (per warehouse or for all)", "List replenishment parameters", "Get replenishment parameters", "Update replenishment parameters (merge-patch)", "Delete replenishment parameters", "History of replenishment parameters"],
}

/// The company's working-day calendar (weekend days and holidays).
#[utoipa::path(tag = "stock", operation_id = "getCalendar", responses((status = 200, description = "The calendar", body = Calendar)))]
#[get("/calendar")]
pub async fn get_calendar(auth: Auth) -> Result<HttpResponse, Problem> {
    Ok(HttpResponse::Ok().json(auth.read(promising::get_calendar).await?))
}

/// Replace the calendar: weekend days and the whole holiday list.
#[utoipa::path(tag = "stock", operation_id = "putCalendar", request_body = Calendar,
    responses((status = 200, description = "The calendar", body = Calendar)))]
#[put("/calendar")]
pub async fn put_calendar(auth: Auth, body: ValidJson<Calendar>) -> Result<HttpResponse, Problem> {
    let c = body.0;
    Ok(HttpResponse::Ok().json(auth.write(move |conn, caller| promising::put_calendar(conn, caller, c)).await?))
}

/// Promise a basket: per line the earliest working day and how (stock, an expected
/// receipt, or replenishment), with the reason. Nothing is written.
#[utoipa::path(tag = "stock", operation_id = "promiseBasket", request_body = PromiseRequest,
    responses((status = 200, description = "The promise", body = Promise)))]
#[post("/promising")]
pub async fn promise_basket(auth: Auth, body: ValidJson<PromiseRequest>) -> Result<HttpResponse, Problem> {
    let lines: Vec<(i64, promising::PromiseLine)> =
        body.0.lines.into_iter().enumerate().map(|(n, l)| (n as i64, l)).collect();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| promising::promise(c, caller, &lines, None)).await?))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AcceptQuery {
    /// Write the promised dates onto the order lines (orders only).
    #[serde(default)]
    pub accept: bool,
}

/// Promise an order's stock lines (what is back-ordered for a confirmed order), each
/// from its warehouse (the line's, else the order's, else the customer's default, else
/// the company's); `?accept=true` writes the dates onto its lines, and fixes the
/// promised warehouse on lines not confirmed yet that name none.
#[utoipa::path(tag = "sales-orders", operation_id = "promiseSalesOrder",
    params(("id" = i64, Path, description = "Order id"), AcceptQuery),
    responses((status = 200, description = "The promise; `line` is the order line id", body = Promise)))]
#[post("/sales-orders/{id}/promise")]
pub async fn promise_order(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<AcceptQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, accept) = (id.into_inner(), q.0.accept);
    let kind = ordo_sales_docs::lines::DocKind::SalesOrder;
    auth.post(
        StatusCode::OK,
        move |c, caller| promising::promise_document(c, caller, kind, id, accept),
        |_| ReplyMeta { location: None, version: None },
    )
    .await
}

/// Promise a quotation's stock lines (nothing is written).
#[utoipa::path(tag = "quotations", operation_id = "promiseQuotation",
    params(("id" = i64, Path, description = "Quotation id")),
    responses((status = 200, description = "The promise; `line` is the quotation line id", body = Promise)))]
#[post("/quotations/{id}/promise")]
pub async fn promise_quotation(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let kind = ordo_sales_docs::lines::DocKind::Quotation;
    Ok(HttpResponse::Ok()
        .json(auth.read(move |c, caller| promising::promise_document(c, caller, kind, id, false)).await?))
}

pub fn promising_routes(cfg: &mut crate::routing::Routes) {
    replenishment_docs::routes(cfg);
    cfg.service(get_calendar)
        .service(put_calendar)
        .service(promise_basket)
        .service(promise_order)
        .service(promise_quotation);
}
