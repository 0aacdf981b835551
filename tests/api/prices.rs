//! Price defects found in review, and cost-plus prices from suppliers: shipping by the
//! weight of base units, derived lists without a markup, base-currency totals that add
//! up, supplier prices, campaign ids in quotes, rule amounts across currencies, and an
//! out-of-range amount that names its field.

use crate::on_both_backends;
use crate::support::{id, ok, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

on_both_backends!(
    shipping_weight_counts_base_units,
    derived_list_without_markup_uses_the_base_price,
    base_currency_totals_add_up,
    cost_plus_prices_from_suppliers,
    quotes_name_campaigns_by_id_and_rules_compare_in_one_currency,
    amounts_past_storage_are_refused_not_crashed,
);

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

struct Basics {
    item: i64,
    list: i64,
    customer: i64,
}

/// A taxed item at 10.00 EUR on the default list, and a EUR customer.
async fn basics(app: &TestApp, price: &str) -> Basics {
    let t = &app.admin_token;
    let vat = id(app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let item = id(app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "W1", "name": "Widget", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat, "weight": "0.4"}),
        )
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "Retail", "currency": "EUR", "is_default": true})).await);
    ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": price})).await);
    let customer = id(app.post("/api/v1/customers", t, json!({"name": "C", "currency": "EUR"})).await);
    Basics { item, list, customer }
}

async fn quote(app: &TestApp, body: Value) -> Value {
    ok(app.post("/api/v1/pricing/quote", &app.admin_token, body).await)
}

async fn shipping_weight_counts_base_units(app: TestApp) {
    let t = &app.admin_token;
    let b = basics(&app, "10.00").await;
    ok(app.post(&format!("/api/v1/items/{}/units", b.item), t, json!({"unit": "BOX", "factor": "12"})).await);
    for (name, range) in [("light", json!({"range_max": "40"})), ("heavy", json!({"range_min": "40"}))] {
        let mut rule = json!({"name": name, "countries": ["DE"], "basis": "weight", "charge": "fixed",
            "amount": if name == "light" { "5.00" } else { "15.00" }, "currency": "EUR"});
        rule.as_object_mut().unwrap().extend(range.as_object().unwrap().clone());
        ok(app.post("/api/v1/shipping-rules", t, rule).await);
    }
    let ship = |qty: &'static str, unit: &'static str| {
        let app = &app;
        let (c, i) = (b.customer, b.item);
        async move {
            let q = quote(
                app,
                json!({"customer_id": c, "shipping_country": "DE",
                "lines": [{"item_id": i, "quantity": qty, "unit": unit}]}),
            )
            .await;
            q["shipping"]["net"].as_str().unwrap().to_string()
        }
    };
    // 10 BOX = 120 PCS = 48 kg, exactly like 120 PCS; 3 BOX = 14.4 kg.
    assert_eq!(ship("10", "BOX").await, "15.00");
    assert_eq!(ship("120", "PCS").await, "15.00");
    assert_eq!(ship("3", "BOX").await, "5.00");
}

async fn derived_list_without_markup_uses_the_base_price(app: TestApp) {
    let t = &app.admin_token;
    let b = basics(&app, "10.00").await;
    let derived = ok(app
        .post("/api/v1/price-lists", t, json!({"name": "Same", "currency": "EUR", "base_price_list_id": b.list}))
        .await);
    assert_eq!(derived["markup_percent"], Value::Null);
    let q = quote(
        &app,
        json!({"customer_id": b.customer, "price_list_id": derived["id"], "lines": [{"item_id": b.item, "quantity": "2"}]}),
    )
    .await;
    assert_eq!(q["lines"][0]["base_unit_price"], "10.00");
    assert_eq!(q["lines"][0]["source"]["kind"], "derived_price_list");
    assert_eq!(q["totals"]["net"], "20.00");
}

async fn base_currency_totals_add_up(app: TestApp) {
    let t = &app.admin_token;
    let b = basics(&app, "99999.99").await;
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "JPY", "rate": "163.93442623", "valid_from": "2020-01-01"}),
        )
        .await);
    let jpy = id(app.post("/api/v1/customers", t, json!({"name": "Tokyo", "currency": "JPY"})).await);
    let check = |what: &str, base_net: &Value, base_tax: &Value, base_gross: &Value, taxes: &Value| {
        assert_eq!(d(base_gross), d(base_net) + d(base_tax), "{what}: base gross = base net + base tax");
        let per_rate: Decimal = taxes.as_array().unwrap().iter().map(|x| d(&x["base_net"])).sum();
        assert_eq!(per_rate, d(base_net), "{what}: base net = Σ per rate");
        let per_rate: Decimal = taxes.as_array().unwrap().iter().map(|x| d(&x["base_tax"])).sum();
        assert_eq!(per_rate, d(base_tax), "{what}: base tax = Σ per rate");
    };
    let q = quote(&app, json!({"customer_id": jpy, "lines": [{"item_id": b.item, "quantity": "1"}]})).await;
    let bc = &q["base_currency"];
    check("quote", &bc["net"], &bc["tax"], &bc["gross"], &q["totals"]["taxes"]);
    assert_eq!(bc["net"], "99999.99", "{bc}");
    // A document stores the same, with base_tax in its totals.
    let o = ok(app
        .post("/api/v1/sales-orders", t, json!({"customer_id": jpy, "lines": [{"item_id": b.item, "quantity": "1"}]}))
        .await);
    let tot = &o["totals"];
    check("order", &tot["base_net"], &tot["base_tax"], &tot["base_gross"], &tot["taxes"]);
    assert_eq!(tot["base_net"], bc["net"]);
    assert_eq!(tot["base_tax"], bc["tax"]);
}

async fn cost_plus_prices_from_suppliers(app: TestApp) {
    let t = &app.admin_token;
    let b = basics(&app, "10.00").await;
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "USD", "to_currency": "EUR", "rate": "0.9", "valid_from": "2020-01-01"}),
        )
        .await);
    let sup = id(app.post("/api/v1/suppliers", t, json!({"code": "ACME", "name": "Acme Supply"})).await);
    app.post("/api/v1/suppliers", t, json!({"code": "ACME", "name": "Again"})).await.problem(409, "duplicate_code");
    let sp = ok(app
        .post(
            "/api/v1/supplier-prices",
            t,
            json!({"supplier_id": sup, "item_id": b.item, "currency": "USD", "price": "8.00"}),
        )
        .await);
    assert_eq!(sp["unit"], "PCS", "the item's base unit by default");
    ok(app
        .post(
            "/api/v1/supplier-prices",
            t,
            json!({"supplier_id": sup, "item_id": b.item, "currency": "USD", "price": "6.00", "min_quantity": "100"}),
        )
        .await);
    let bad = app
        .post(
            "/api/v1/supplier-prices",
            t,
            json!({"supplier_id": 999, "item_id": b.item, "currency": "USD", "price": "1"}),
        )
        .await;
    bad.problem(404, "not_found");
    assert_eq!(bad.error_fields(), vec!["supplier_id"]);
    let bad = app
        .post(
            "/api/v1/supplier-prices",
            t,
            json!({"supplier_id": sup, "item_id": b.item, "currency": "USD", "price": "1", "unit": "CRATE"}),
        )
        .await;
    assert_eq!(bad.error_fields(), vec!["unit"]);
    // A cost-plus list: the supplier's price plus 25%, in EUR.
    let both = app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "X", "currency": "EUR", "base_price_list_id": b.list, "base_supplier_id": sup}),
        )
        .await;
    both.problem(422, "validation_failed");
    assert_eq!(both.error_fields(), vec!["base_supplier_id"]);
    let cost_plus = id(app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "Cost plus", "currency": "EUR", "base_supplier_id": sup, "markup_percent": "25"}),
        )
        .await);
    let q = quote(
        &app,
        json!({"customer_id": b.customer, "price_list_id": cost_plus, "lines": [{"item_id": b.item, "quantity": "1"}]}),
    )
    .await;
    assert_eq!(q["lines"][0]["base_unit_price"], "9.00", "8.00 USD × 1.25 × 0.9");
    assert_eq!(q["lines"][0]["source"]["kind"], "supplier_price");
    assert_eq!(q["lines"][0]["source"]["supplier_price_id"], sp["id"]);
    let text = q["explanation"].to_string();
    assert!(text.contains("purchase price 8.00 USD of supplier") && text.contains("converted USD → EUR"), "{text}");
    let bulk = quote(
        &app,
        json!({"customer_id": b.customer, "price_list_id": cost_plus, "lines": [{"item_id": b.item, "quantity": "100"}]}),
    )
    .await;
    assert_eq!(bulk["lines"][0]["base_unit_price"], "6.75", "the supplier's tier");
    // A list's own price still comes first; a used supplier is not deleted.
    ok(app
        .post(&format!("/api/v1/price-lists/{cost_plus}/prices"), t, json!({"item_id": b.item, "price": "7.00"}))
        .await);
    let own = quote(
        &app,
        json!({"customer_id": b.customer, "price_list_id": cost_plus, "lines": [{"item_id": b.item, "quantity": "1"}]}),
    )
    .await;
    assert_eq!(own["lines"][0]["source"]["kind"], "price_list");
    app.delete(&format!("/api/v1/suppliers/{sup}"), t).await.problem(409, "in_use");
}

async fn quotes_name_campaigns_by_id_and_rules_compare_in_one_currency(app: TestApp) {
    let t = &app.admin_token;
    let b = basics(&app, "10.00").await;
    let camp =
        id(app.post("/api/v1/campaigns", t, json!({"name": "Spring", "code": "SPRING", "currency": "EUR"})).await);
    ok(app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "Spring 10%", "campaign_code": "SPRING", "action": "discount_percent", "percent": "10"}),
        )
        .await);
    let line = json!([{"item_id": b.item, "quantity": "1"}]);
    let by_id = quote(&app, json!({"customer_id": b.customer, "campaign_id": camp, "lines": line})).await;
    assert_eq!(by_id["lines"][0]["net"], "9.00");
    let by_code = quote(&app, json!({"customer_id": b.customer, "campaign_code": "SPRING", "lines": line})).await;
    assert_eq!(by_code["lines"][0]["net"], "9.00");
    let clash = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": b.customer, "campaign_id": camp, "campaign_code": "AUTUMN", "lines": line}),
        )
        .await;
    clash.problem(422, "validation_failed");
    assert_eq!(clash.error_fields(), vec!["campaign_code"]);
    let missing = app
        .post("/api/v1/pricing/quote", t, json!({"customer_id": b.customer, "campaign_id": 999, "lines": line}))
        .await;
    missing.problem(404, "not_found");
    assert_eq!(missing.error_fields(), vec!["campaign_id"]);

    // A rule without a currency states its amounts in the base currency (EUR): an order
    // of 100 JPY is worth far less than 100 EUR and does not reach it.
    ok(app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "Big orders", "min_order_amount": "100", "action": "discount_percent", "percent": "50"}),
        )
        .await);
    ok(app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "JPY", "rate": "160", "valid_from": "2020-01-01"}),
        )
        .await);
    let jpy = id(app.post("/api/v1/customers", t, json!({"name": "Tokyo", "currency": "JPY"})).await);
    // 11 × 10.00 EUR = 110 EUR = 17,600 JPY: the rule applies in both currencies.
    let eleven = json!([{"item_id": b.item, "quantity": "11"}]);
    assert_eq!(quote(&app, json!({"customer_id": b.customer, "lines": eleven})).await["lines"][0]["net"], "55.00");
    assert_eq!(
        d(&quote(&app, json!({"customer_id": jpy, "lines": eleven})).await["lines"][0]["net"]),
        Decimal::from(8800)
    );
    // 5 × 10.00 = 50 EUR = 8,000 JPY: more than 100 as a raw number, but not 100 EUR.
    let five = json!([{"item_id": b.item, "quantity": "5"}]);
    assert_eq!(
        d(&quote(&app, json!({"customer_id": jpy, "lines": five})).await["lines"][0]["net"]),
        Decimal::from(8000)
    );
    // An amount to take off still needs its currency.
    let r = app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "Off", "item_id": b.item, "action": "discount_amount", "amount": "1"}),
        )
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.error_fields(), vec!["currency"]);

    // An amount too large for the engine names the field it comes from.
    let huge = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": b.customer, "lines": [{"item_id": b.item, "quantity": "99999999999999"}]}),
        )
        .await;
    huge.problem(422, "amount_out_of_range");
    assert_eq!(huge.error_fields(), vec!["lines"]);
}

/// The largest price and quantity the validators accept, taxed: their product is far
/// past what an amount may be. A 422 naming the lines, for a quote and for an order,
/// and nothing written (the property test in the engine found this was a panic).
async fn amounts_past_storage_are_refused_not_crashed(app: TestApp) {
    let b = basics(&app, "99999999999999.99").await;
    let t = &app.admin_token;
    let lines = json!([{"item_id": b.item, "quantity": "99999999999999"}]);
    let r = app.post("/api/v1/pricing/quote", t, json!({"customer_id": b.customer, "lines": lines})).await;
    r.problem(422, "amount_out_of_range");
    let r = app.post("/api/v1/sales-orders", t, json!({"customer_id": b.customer, "lines": lines})).await;
    r.problem(422, "amount_out_of_range");
    assert_eq!(app.get("/api/v1/sales-orders", t).await.body["data"], json!([]), "no order was written");
}
