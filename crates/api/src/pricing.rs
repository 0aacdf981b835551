//! Pricing endpoints: currencies, exchange rates, tax rates, price lists and their
//! prices, customer special prices, item-group discounts, and the price engine.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use ordo_core::{Currency, Page};
use ordo_pricing::model::*;
use ordo_pricing::service;
use serde::Deserialize;

use crate::common::{history_page, page, HistoryEntry, PageQuery};
use crate::crud::Resource;
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;
use crate::AppState;

macro_rules! resource_impl {
    ($($t:ty),*) => {$(
        impl Resource for $t {
            fn id(&self) -> i64 { self.id }
            fn version(&self) -> i64 { self.version }
        }
    )*};
}
resource_impl!(
    ExchangeRate,
    TaxRate,
    PriceList,
    GroupDiscount,
    ItemPrice,
    CustomerPrice,
    PricingRule,
    Coupon,
    ShippingRule,
    Supplier,
    SupplierPrice
);

use ordo_pricing::suppliers::{Supplier, SupplierCreate, SupplierPrice, SupplierPriceCreate};

crate::list_query!(SupplierQuery => ordo_pricing::suppliers::supplier_service::Filter {
    active: Option<bool>,
});

crate::list_query!(SupplierPriceQuery => ordo_pricing::suppliers::supplier_price_service::Filter {
    supplier_id: Option<i64>,
    item_id: Option<i64>,
});

crate::crud_resource! {
    module: suppliers,
    tag: "pricing",
    collection: "/suppliers",
    member: "/suppliers/{id}",
    history: "/suppliers/{id}/history",
    location: "/api/v1/suppliers/{}",
    model: Supplier,
    create: SupplierCreate,
    patch: MergePatch,
    query: SupplierQuery,
    service: ordo_pricing::suppliers::supplier_service,
    ids: ["createSupplier", "listSuppliers", "getSupplier", "updateSupplier", "deleteSupplier", "getSupplierHistory"],
    summaries: ["Create a supplier", "List suppliers", "Get a supplier", "Update a supplier (merge-patch)", "Delete a supplier without prices or cost-plus lists", "History of a supplier"],
}

crate::crud_resource! {
    module: supplier_prices,
    tag: "pricing",
    collection: "/supplier-prices",
    member: "/supplier-prices/{id}",
    history: "/supplier-prices/{id}/history",
    location: "/api/v1/supplier-prices/{}",
    model: SupplierPrice,
    create: SupplierPriceCreate,
    patch: MergePatch,
    query: SupplierPriceQuery,
    service: ordo_pricing::suppliers::supplier_price_service,
    ids: ["createSupplierPrice", "listSupplierPrices", "getSupplierPrice", "updateSupplierPrice", "deleteSupplierPrice", "getSupplierPriceHistory"],
    summaries: ["Create a supplier's purchase price (the base of cost-plus price lists)", "List supplier prices", "Get a supplier price", "Update a supplier price (merge-patch)", "Delete a supplier price", "History of a supplier price"],
}

use ordo_core::body::MergePatch;
use ordo_pricing::rules::{Coupon, CouponCreate, PricingRule, PricingRuleCreate, ShippingRule, ShippingRuleCreate};

crate::list_query!(PricingRuleQuery => ordo_pricing::rules::pricing_rule_service::Filter {
    active: Option<bool>,
    item_id: Option<i64>,
    item_group_id: Option<i64>,
});

crate::list_query!(CouponQuery => ordo_pricing::rules::coupon_service::Filter {
    pricing_rule_id: Option<i64>,
    /// Exact code, case-insensitive.
    code: Option<String>,
});

crate::list_query!(ExchangeRateQuery => service::exchange_rates::Filter {
    from_currency: Option<Currency>,
    to_currency: Option<Currency>,
});

crate::list_query!(TaxRateQuery => service::tax_rates::Filter {
    active: Option<bool>,
});

crate::list_query!(PriceListQuery => service::price_lists::Filter {
    active: Option<bool>,
    currency: Option<Currency>,
});

crate::list_query!(GroupDiscountQuery => service::group_discounts::Filter {
    customer_id: Option<i64>,
    item_group_id: Option<i64>,
});

crate::crud_resource! {
    module: exchange_rates,
    tag: "pricing",
    collection: "/exchange-rates",
    member: "/exchange-rates/{id}",
    history: "/exchange-rates/{id}/history",
    location: "/api/v1/exchange-rates/{}",
    model: ExchangeRate,
    create: ExchangeRateCreate,
    patch: ExchangeRatePatch,
    query: ExchangeRateQuery,
    service: ordo_pricing::service::exchange_rates,
    ids: ["createExchangeRate", "listExchangeRates", "getExchangeRate", "updateExchangeRate", "deleteExchangeRate", "getExchangeRateHistory"],
    summaries: ["Add a dated exchange rate", "List exchange rates", "Get an exchange rate", "Correct an exchange rate", "Delete an exchange rate", "History of an exchange rate"],
}

crate::crud_resource! {
    module: tax_rates,
    tag: "pricing",
    collection: "/tax-rates",
    member: "/tax-rates/{id}",
    history: "/tax-rates/{id}/history",
    location: "/api/v1/tax-rates/{}",
    model: TaxRate,
    create: TaxRateCreate,
    patch: TaxRatePatch,
    query: TaxRateQuery,
    service: ordo_pricing::service::tax_rates,
    ids: ["createTaxRate", "listTaxRates", "getTaxRate", "updateTaxRate", "deleteTaxRate", "getTaxRateHistory"],
    summaries: ["Create a tax rate", "List tax rates", "Get a tax rate", "Update a tax rate", "Delete an unused tax rate", "History of a tax rate"],
}

crate::crud_resource! {
    module: price_lists,
    tag: "pricing",
    collection: "/price-lists",
    member: "/price-lists/{id}",
    history: "/price-lists/{id}/history",
    location: "/api/v1/price-lists/{}",
    model: PriceList,
    create: PriceListCreate,
    patch: PriceListPatch,
    query: PriceListQuery,
    service: ordo_pricing::service::price_lists,
    ids: ["createPriceList", "listPriceLists", "getPriceList", "updatePriceList", "deletePriceList", "getPriceListHistory"],
    summaries: ["Create a price list", "List price lists", "Get a price list", "Update a price list", "Delete an unused price list", "History of a price list"],
}

crate::crud_resource! {
    module: group_discounts,
    tag: "pricing",
    collection: "/group-discounts",
    member: "/group-discounts/{id}",
    history: "/group-discounts/{id}/history",
    location: "/api/v1/group-discounts/{}",
    model: GroupDiscount,
    create: GroupDiscountCreate,
    patch: GroupDiscountPatch,
    query: GroupDiscountQuery,
    service: ordo_pricing::service::group_discounts,
    ids: ["createGroupDiscount", "listGroupDiscounts", "getGroupDiscount", "updateGroupDiscount", "deleteGroupDiscount", "getGroupDiscountHistory"],
    summaries: ["Create an item-group discount", "List item-group discounts", "Get an item-group discount", "Update an item-group discount", "Delete an item-group discount", "History of an item-group discount"],
}

crate::crud_resource! {
    module: pricing_rules,
    tag: "pricing",
    collection: "/pricing-rules",
    member: "/pricing-rules/{id}",
    history: "/pricing-rules/{id}/history",
    location: "/api/v1/pricing-rules/{}",
    model: PricingRule,
    create: PricingRuleCreate,
    patch: MergePatch,
    query: PricingRuleQuery,
    service: ordo_pricing::rules::pricing_rule_service,
    ids: ["createPricingRule", "listPricingRules", "getPricingRule", "updatePricingRule", "deletePricingRule", "getPricingRuleHistory"],
    summaries: ["Create a pricing rule", "List pricing rules", "Get a pricing rule", "Update a pricing rule (merge-patch of its create shape)", "Delete a pricing rule no coupon uses", "History of a pricing rule"],
}

crate::crud_resource! {
    module: coupons,
    tag: "pricing",
    collection: "/coupons",
    member: "/coupons/{id}",
    history: "/coupons/{id}/history",
    location: "/api/v1/coupons/{}",
    model: Coupon,
    create: CouponCreate,
    patch: MergePatch,
    query: CouponQuery,
    service: ordo_pricing::rules::coupon_service,
    ids: ["createCoupon", "listCoupons", "getCoupon", "updateCoupon", "deleteCoupon", "getCouponHistory"],
    summaries: ["Create a coupon", "List coupons", "Get a coupon", "Update a coupon (merge-patch of its create shape)", "Delete an unused coupon", "History of a coupon"],
}

crate::crud_resource! {
    module: shipping_rules,
    tag: "pricing",
    collection: "/shipping-rules",
    member: "/shipping-rules/{id}",
    history: "/shipping-rules/{id}/history",
    location: "/api/v1/shipping-rules/{}",
    model: ShippingRule,
    create: ShippingRuleCreate,
    patch: MergePatch,
    query: PageQuery,
    service: ordo_pricing::rules::shipping_rule_service,
    ids: ["createShippingRule", "listShippingRules", "getShippingRule", "updateShippingRule", "deleteShippingRule", "getShippingRuleHistory"],
    summaries: ["Create a shipping rule", "List shipping rules", "Get a shipping rule", "Update a shipping rule (merge-patch of its create shape)", "Delete a shipping rule", "History of a shipping rule"],
}

/// The ISO 4217 currencies, with minor units and the company base currency.
#[utoipa::path(
    tag = "pricing",
    operation_id = "listCurrencies",
    responses((status = 200, description = "All currencies (one page)", body = Page<CurrencyInfo>))
)]
#[get("/currencies")]
pub async fn list_currencies(auth: Auth) -> Result<HttpResponse, Problem> {
    auth.caller.require(ordo_core::Permission::PricingRead)?;
    let base = auth.db_state().config.base_currency;
    let data: Vec<CurrencyInfo> =
        Currency::all().map(|c| CurrencyInfo { code: c, minor_units: c.minor_units(), base: c == base }).collect();
    auth.list_one(move |_, _| Ok(data.clone())).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemPriceQuery {
    pub item_id: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Raise or lower a list's prices by a percentage, optionally for one item group, with
/// a rounding step or a price ending. `dry_run` answers the before/after table without
/// writing; a real run is one transaction with one history entry on the list.
#[utoipa::path(
    tag = "pricing",
    operation_id = "adjustPriceList",
    params(("id" = i64, Path, description = "Price list id")),
    request_body = PriceAdjustRequest,
    responses((status = 200, description = "What changed (or would change)", body = PriceAdjustResult))
)]
#[post("/price-lists/{id}/adjust")]
pub async fn adjust_price_list(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<PriceAdjustRequest>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::OK,
        move |c, caller| service::price_lists::adjust(c, caller, id, input),
        |_| ReplyMeta { location: None, version: None },
    )
    .await
}

/// List the prices on a price list.
#[utoipa::path(
    tag = "pricing",
    operation_id = "listItemPrices",
    params(("id" = i64, Path, description = "Price list id"), ItemPriceQuery),
    responses((status = 200, description = "A page of prices", body = Page<ItemPrice>))
)]
#[get("/price-lists/{id}/prices")]
pub async fn list_item_prices(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<ItemPriceQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, q) = (id.into_inner(), q.0);
    let p = page(q.limit, q.cursor.as_deref())?;
    let item = q.item_id;
    auth.list(p, move |c, caller, p| service::item_prices::list(c, caller, id, item, p)).await
}

/// Add a price (or a quantity tier) for an item to a price list.
#[utoipa::path(
    tag = "pricing",
    operation_id = "createItemPrice",
    params(("id" = i64, Path, description = "Price list id")),
    request_body = ItemPriceCreate,
    responses(
        (status = 201, description = "Created", body = ItemPrice, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "Same item, unit and tier already priced for an overlapping period", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/price-lists/{id}/prices")]
pub async fn create_item_price(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ItemPriceCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| service::item_prices::create(c, caller, id, input),
        |v| ReplyMeta {
            location: Some(format!("/api/v1/price-lists/{}/prices/{}", v.price_list_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// Get one price of a price list.
#[utoipa::path(
    tag = "pricing",
    operation_id = "getItemPrice",
    params(("id" = i64, Path, description = "Price list id"), ("price_id" = i64, Path, description = "Item price id")),
    responses((status = 200, description = "The price", body = ItemPrice, headers(("ETag" = String))))
)]
#[get("/price-lists/{id}/prices/{price_id}")]
pub async fn get_item_price(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, price_id) = path.into_inner();
    let v = auth.read(move |c, caller| service::item_prices::get(c, caller, id, price_id)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Change a price, its tier or its validity (merge-patch).
#[utoipa::path(
    tag = "pricing",
    operation_id = "updateItemPrice",
    params(("id" = i64, Path, description = "Price list id"), ("price_id" = i64, Path, description = "Item price id")),
    request_body(content = ItemPricePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = ItemPrice, headers(("ETag" = String))))
)]
#[patch("/price-lists/{id}/prices/{price_id}")]
pub async fn update_item_price(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<ItemPricePatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, price_id), p) = (path.into_inner(), body.0);
    let v = auth.write(move |c, caller| service::item_prices::update(c, caller, id, price_id, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Remove a price from a price list.
#[utoipa::path(
    tag = "pricing",
    operation_id = "deleteItemPrice",
    params(("id" = i64, Path, description = "Price list id"), ("price_id" = i64, Path, description = "Item price id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/price-lists/{id}/prices/{price_id}")]
pub async fn delete_item_price(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
) -> Result<HttpResponse, Problem> {
    let (id, price_id) = path.into_inner();
    auth.write(move |c, caller| service::item_prices::delete(c, caller, id, price_id, if_match.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The change history of a price on a list.
#[utoipa::path(
    tag = "pricing",
    operation_id = "getItemPriceHistory",
    params(("id" = i64, Path, description = "Price list id"), ("price_id" = i64, Path, description = "Item price id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/price-lists/{id}/prices/{price_id}/history")]
pub async fn item_price_history(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let ((id, price_id), p) = (path.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| service::item_prices::history(c, caller, id, price_id, p).map(history_page)).await
}

/// Get one special price of a customer.
#[utoipa::path(
    tag = "pricing",
    operation_id = "getCustomerPrice",
    params(("id" = i64, Path, description = "Customer id"), ("price_id" = i64, Path, description = "Customer price id")),
    responses((status = 200, description = "The special price", body = CustomerPrice, headers(("ETag" = String))))
)]
#[get("/customers/{id}/prices/{price_id}")]
pub async fn get_customer_price(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, price_id) = path.into_inner();
    let v = auth.read(move |c, caller| service::customer_prices::get(c, caller, id, price_id)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Change a special price, its tier or validity (merge-patch).
#[utoipa::path(
    tag = "pricing",
    operation_id = "updateCustomerPrice",
    params(("id" = i64, Path, description = "Customer id"), ("price_id" = i64, Path, description = "Customer price id")),
    request_body(content = ItemPricePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = CustomerPrice, headers(("ETag" = String))))
)]
#[patch("/customers/{id}/prices/{price_id}")]
pub async fn update_customer_price(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<ItemPricePatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, price_id), p) = (path.into_inner(), body.0);
    let v =
        auth.write(move |c, caller| service::customer_prices::update(c, caller, id, price_id, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// The change history of a special price.
#[utoipa::path(
    tag = "pricing",
    operation_id = "getCustomerPriceHistory",
    params(("id" = i64, Path, description = "Customer id"), ("price_id" = i64, Path, description = "Customer price id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/customers/{id}/prices/{price_id}/history")]
pub async fn customer_price_history(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let ((id, price_id), p) = (path.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| service::customer_prices::history(c, caller, id, price_id, p).map(history_page))
        .await
}

/// List a customer's special prices.
#[utoipa::path(
    tag = "pricing",
    operation_id = "listCustomerPrices",
    params(("id" = i64, Path, description = "Customer id"), PageQuery),
    responses((status = 200, description = "A page of special prices", body = Page<CustomerPrice>))
)]
#[get("/customers/{id}/prices")]
pub async fn list_customer_prices(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, p) = (id.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| service::customer_prices::list(c, caller, id, p)).await
}

/// Agree a special price with a customer (beats list prices; not discounted).
#[utoipa::path(
    tag = "pricing",
    operation_id = "createCustomerPrice",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CustomerPriceCreate,
    responses(
        (status = 201, description = "Created", body = CustomerPrice, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "Same item, unit, currency and tier already priced for an overlapping period", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/customers/{id}/prices")]
pub async fn create_customer_price(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CustomerPriceCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| service::customer_prices::create(c, caller, id, input),
        |v| ReplyMeta {
            location: Some(format!("/api/v1/customers/{}/prices/{}", v.customer_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// Remove a customer's special price.
#[utoipa::path(
    tag = "pricing",
    operation_id = "deleteCustomerPrice",
    params(("id" = i64, Path, description = "Customer id"), ("price_id" = i64, Path, description = "Customer price id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/customers/{id}/prices/{price_id}")]
pub async fn delete_customer_price(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
) -> Result<HttpResponse, Problem> {
    let (id, price_id) = path.into_inner();
    auth.write(move |c, caller| service::customer_prices::delete(c, caller, id, price_id, if_match.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Price a basket for a customer: every line's base price and where it came from,
/// each discount, tax per rate, totals in the document and the base currency, and a
/// readable explanation. Nothing is written. Agents may price only their own customers.
#[utoipa::path(
    tag = "pricing",
    operation_id = "quotePrices",
    request_body = QuoteRequest,
    responses(
        (status = 200, description = "The priced basket", body = Quote),
        (status = 422, description = "Validation failed, `fx_rate_missing`, or `unpriceable_lines` (each line named in `errors`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pricing/quote")]
pub async fn quote(
    auth: Auth,
    body: ValidJson<QuoteRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (req, base) = (body.0, state.config.base_currency);
    let q = auth.read(move |c, caller| service::quote::quote(c, caller, &req, base)).await?;
    Ok(HttpResponse::Ok().json(q))
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    exchange_rates::routes(cfg);
    tax_rates::routes(cfg);
    price_lists::routes(cfg);
    group_discounts::routes(cfg);
    pricing_rules::routes(cfg);
    coupons::routes(cfg);
    shipping_rules::routes(cfg);
    suppliers::routes(cfg);
    supplier_prices::routes(cfg);
    cfg.service(list_currencies)
        .service(adjust_price_list)
        .service(list_item_prices)
        .service(create_item_price)
        .service(get_item_price)
        .service(update_item_price)
        .service(delete_item_price)
        .service(item_price_history)
        .service(get_customer_price)
        .service(update_customer_price)
        .service(customer_price_history)
        .service(list_customer_prices)
        .service(create_customer_price)
        .service(delete_customer_price)
        .service(quote);
}
