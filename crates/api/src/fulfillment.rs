//! Fulfillment endpoints: warehouses, stock postings, balances, the ledger and
//! reservations.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use ordo_core::body::MergePatch;
use ordo_core::Page;
use ordo_fulfillment::reservations::{
    self, LineStock, Reservation, ReservationCreate, ReservationMove, ReservationStatus,
};
use ordo_fulfillment::stock::*;

use crate::common::{history_page, HistoryEntry, PageQuery};
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
    Ok(HttpResponse::Ok()
        .json(auth.read(move |c, caller| ordo_fulfillment::stock::balances(c, caller, &f, &page)).await?))
}

/// The stock ledger: every movement, oldest first.
#[utoipa::path(tag = "stock", operation_id = "listStockLedger", params(LedgerQuery),
    responses((status = 200, description = "A page", body = Page<LedgerEntry>)))]
#[get("/stock/ledger")]
pub async fn ledger(auth: Auth, q: StrictQuery<LedgerQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = q.0.split()?;
    Ok(HttpResponse::Ok()
        .json(auth.read(move |c, caller| ordo_fulfillment::stock::ledger(c, caller, &f, &page)).await?))
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
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| reservations::list(c, caller, &f, &page)).await?))
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

/// History of a reservation.
#[utoipa::path(tag = "stock", operation_id = "getReservationHistory", params(("id" = i64, Path, description = "Id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>)))]
#[get("/reservations/{id}/history")]
pub async fn reservation_history(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    let h = auth.read(move |c, caller| reservations::history(c, caller, id, &page)).await?;
    Ok(HttpResponse::Ok().json(history_page(h)))
}

crate::action! {
    /// Move the whole reservation to another warehouse (422 `insufficient_stock` when it is not free there).
    fn move_reservation, tag: "stock", id: "moveReservation", path: "/reservations/{id}/move", model: Reservation,
    body: ReservationMove,
    call: |c, caller, id, if_match, input| reservations::move_to(c, caller, id, if_match, input)
}
crate::action! {
    /// Release a reservation; an order line's quantity becomes back-ordered again.
    fn release_reservation, tag: "stock", id: "releaseReservation", path: "/reservations/{id}/release", model: Reservation,
    call: |c, caller, id, if_match| reservations::release(c, caller, id, if_match)
}

/// Per stock line of a confirmed order: ordered, reserved, back-ordered, delivered,
/// returned (base units) and the promised date.
#[utoipa::path(tag = "stock", operation_id = "getSalesOrderStock", params(("id" = i64, Path, description = "Order id")),
    responses((status = 200, description = "The stock lines", body = Vec<LineStock>)))]
#[get("/sales-orders/{id}/stock")]
pub async fn order_stock(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| reservations::order_stock(c, caller, id)).await?))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
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
        .service(order_stock);
}
