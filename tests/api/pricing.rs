//! Pricing resources and the price engine over HTTP.

use crate::on_both_backends;
use crate::support::{Resp, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    pricing_resources_refuse_bad_input,
    quote_prices_a_basket_exactly,
    rules_coupons_and_shipping,
    bulk_adjust,
    units_convert_exactly,
    bundles_and_options
);

fn id(r: &Resp) -> i64 {
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    r.body["id"].as_i64().unwrap()
}

async fn pricing_resources_refuse_bad_input(app: TestApp) {
    let t = &app.admin_token;
    let vat = id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "again", "percent": "23"}))
        .await
        .problem(409, "duplicate_code");
    let pct = app.post("/api/v1/tax-rates", t, json!({"code": "X", "name": "X", "percent": "101"})).await;
    pct.problem(422, "validation_failed");
    assert_eq!(pct.error_fields(), vec!["percent"]);

    let fx = json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.25", "valid_from": "2026-01-01"});
    assert_eq!(app.post("/api/v1/exchange-rates", t, fx.clone()).await.status, 201);
    app.post("/api/v1/exchange-rates", t, fx).await.problem(409, "duplicate_rate");
    let same = app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "EUR", "rate": "1", "valid_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(same.error_fields(), vec!["to_currency"]);
    let bad = app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "ABC", "rate": "0.123456789", "valid_from": "2026-13-01"}),
        )
        .await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["rate", "to_currency", "valid_from"]);
    let zero = app
        .post(
            "/api/v1/exchange-rates",
            t,
            json!({"from_currency": "EUR", "to_currency": "USD", "rate": "0", "valid_from": "2026-01-01"}),
        )
        .await;
    assert_eq!(zero.error_fields(), vec!["rate"]);

    let retail =
        id(&app.post("/api/v1/price-lists", t, json!({"name": "Retail", "currency": "EUR", "is_default": true})).await);
    let derived = id(&app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "Resale", "currency": "EUR", "base_price_list_id": retail, "markup_percent": "30"}),
        )
        .await);
    app.post("/api/v1/price-lists", t, json!({"name": "Odd", "currency": "XYZ"}))
        .await
        .problem(422, "validation_failed");
    app.post("/api/v1/price-lists", t, json!({"name": "Retail", "currency": "EUR"}))
        .await
        .problem(409, "duplicate_name");
    let cyc = app.patch(&format!("/api/v1/price-lists/{retail}"), t, json!({"base_price_list_id": derived})).await;
    cyc.problem(422, "validation_failed");
    assert_eq!(cyc.body["errors"][0]["code"], "cycle");
    let markup =
        app.post("/api/v1/price-lists", t, json!({"name": "M", "currency": "EUR", "markup_percent": "-150"})).await;
    assert_eq!(markup.error_fields(), vec!["markup_percent"]);
    let dates = app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "D", "currency": "EUR", "valid_from": "2026-02-01", "valid_to": "2026-01-01"}),
        )
        .await;
    assert_eq!(dates.error_fields(), vec!["valid_to"]);
    // The default flag moves.
    let other =
        id(&app.post("/api/v1/price-lists", t, json!({"name": "Other", "currency": "EUR", "is_default": true})).await);
    assert_eq!(app.get(&format!("/api/v1/price-lists/{retail}"), t).await.body["is_default"], false);
    assert_eq!(app.get(&format!("/api/v1/price-lists/{other}"), t).await.body["is_default"], true);

    let item = id(&app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "A", "name": "A", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat}),
        )
        .await);
    let prices = format!("/api/v1/price-lists/{retail}/prices");
    let p = app
        .post(
            &prices,
            t,
            json!({"item_id": item, "price": "10.00", "valid_from": "2026-01-01", "valid_to": "2026-06-30"}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    assert_eq!(p.body["unit"], "PCS", "defaults to the base unit");
    let overlap = app.post(&prices, t, json!({"item_id": item, "price": "11.00", "valid_from": "2026-06-01"})).await;
    overlap.problem(409, "overlapping_price");
    assert_eq!(
        app.post(&prices, t, json!({"item_id": item, "price": "11.00", "valid_from": "2026-07-01"})).await.status,
        201
    );
    assert_eq!(
        app.post(&prices, t, json!({"item_id": item, "price": "9.00", "min_quantity": "10"})).await.status,
        201,
        "another tier"
    );
    let neg = app.post(&prices, t, json!({"item_id": item, "price": "-1", "min_quantity": "-2"})).await;
    assert_eq!(neg.error_fields(), vec!["min_quantity", "price"]);
    let precise = app.post(&prices, t, json!({"item_id": item, "price": "1.00001"})).await;
    assert_eq!(precise.error_fields(), vec!["price"]);
    app.post(&prices, t, json!({"item_id": 999, "price": "1"})).await.problem(404, "not_found");
    app.post("/api/v1/price-lists/999/prices", t, json!({"item_id": item, "price": "1"}))
        .await
        .problem(404, "not_found");
    assert_eq!(app.get(&format!("{prices}?item_id={item}"), t).await.body["data"].as_array().unwrap().len(), 3);

    // Lists in use stay; tax rates in use stay.
    app.delete(&format!("/api/v1/price-lists/{retail}"), t).await.problem(409, "in_use");
    app.delete(&format!("/api/v1/tax-rates/{vat}"), t).await.problem(409, "in_use");
    let h = app.get(&format!("/api/v1/price-lists/{retail}/history"), t).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 2, "create, then losing the default flag");

    // Warehouse staff cannot change prices; agents can read them.
    let (_, wh) = app.user("walt", &["warehouse"]).await;
    app.post("/api/v1/price-lists", &wh, json!({"name": "W", "currency": "EUR"})).await.problem(403, "forbidden");
    app.patch(&format!("/api/v1/price-lists/{retail}"), &wh, json!({"name": "W"})).await.problem(403, "forbidden");
    app.get("/api/v1/price-lists", &wh).await.problem(403, "forbidden");
    let (_, agent) = app.user("anna", &["sales_agent"]).await;
    assert_eq!(app.get("/api/v1/price-lists", &agent).await.status, 200);
    let cur = app.get("/api/v1/currencies", &agent).await;
    let eur = cur.body["data"].as_array().unwrap().iter().find(|c| c["code"] == "EUR").unwrap().clone();
    assert_eq!(eur, json!({"code": "EUR", "minor_units": 2, "base": true}));
}

struct World {
    item_a: i64,
    item_b: i64,
    c1: i64,
    retail: i64,
}

async fn world(app: &TestApp) -> World {
    let t = &app.admin_token;
    let vat23 =
        id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT23", "name": "VAT 23%", "percent": "23"})).await);
    let vat8 = id(&app.post("/api/v1/tax-rates", t, json!({"code": "VAT8", "name": "VAT 8%", "percent": "8"})).await);
    let g = id(&app.post("/api/v1/item-groups", t, json!({"name": "Tools"})).await);
    let item_a = id(&app
        .post("/api/v1/items", t, json!({"sku": "A", "name": "Hammer", "base_unit": "PCS", "kind": "stock", "item_group_id": g, "tax_rate_id": vat23}))
        .await);
    let item_b = id(&app
        .post(
            "/api/v1/items",
            t,
            json!({"sku": "B", "name": "Manual", "base_unit": "PCS", "kind": "stock", "tax_rate_id": vat8}),
        )
        .await);
    let retail = id(&app
        .post("/api/v1/price-lists", t, json!({"name": "Retail EUR", "currency": "EUR", "is_default": true}))
        .await);
    let prices = format!("/api/v1/price-lists/{retail}/prices");
    for (item, price, min) in [(item_a, "10.00", "0"), (item_a, "9.00", "10"), (item_b, "100.00", "0")] {
        id(&app.post(&prices, t, json!({"item_id": item, "price": price, "min_quantity": min})).await);
    }
    id(&app.post("/api/v1/group-discounts", t, json!({"item_group_id": g, "percent": "5"})).await);
    let c1 =
        id(&app.post("/api/v1/customers", t, json!({"name": "C1", "currency": "EUR", "discount_percent": "2"})).await);
    World { item_a, item_b, c1, retail }
}

fn line(item: i64, qty: &str) -> Value {
    json!({"item_id": item, "quantity": qty})
}

async fn quote_prices_a_basket_exactly(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let basket = json!({"customer_id": w.c1, "date": "2026-06-15",
                        "lines": [line(w.item_a, "3"), line(w.item_a, "12"), line(w.item_b, "1")]});
    let q = app.post("/api/v1/pricing/quote", t, basket.clone()).await;
    assert_eq!(q.status, 200, "{}", q.body);
    let b = &q.body;
    assert_eq!(b["price_list_id"], w.retail);
    let nets: Vec<&str> = b["lines"].as_array().unwrap().iter().map(|l| l["net"].as_str().unwrap()).collect();
    assert_eq!(nets, vec!["27.93", "100.55", "98.00"]);
    assert_eq!(b["lines"][1]["base_unit_price"], "9.00", "the 10+ tier");
    assert_eq!(b["lines"][0]["adjustments"][0]["kind"], "group_discount");
    assert_eq!(b["lines"][0]["adjustments"][0]["amount"], "1.50");
    assert_eq!(b["lines"][0]["adjustments"][1]["kind"], "customer_discount");
    assert_eq!(b["lines"][0]["adjustments"][1]["amount"], "0.57");
    assert_eq!(b["lines"][0]["source"]["kind"], "price_list");
    assert_eq!(
        b["totals"],
        json!({
            "net": "226.48", "shipping": "0.00", "discount": "11.52", "tax": "37.39", "gross": "263.87",
            "taxes": [
                {"tax_rate_id": 1, "percent": "23", "net": "128.48", "tax": "29.55", "base_net": "128.48", "base_tax": "29.55"},
                {"tax_rate_id": 2, "percent": "8", "net": "98.00", "tax": "7.84", "base_net": "98.00", "base_tax": "7.84"}
            ]
        })
    );
    assert_eq!(
        b["base_currency"],
        json!({"currency": "EUR", "rate": "1", "net": "226.48", "tax": "37.39", "gross": "263.87"})
    );
    let text = b["explanation"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("Price list: 'Retail EUR'"), "{text}");
    assert!(text.contains("group discount 5% for all customers: -1.50"), "{text}");
    assert!(text.contains("tax VAT23 23%: 6.42"), "{text}");

    // A special price beats the list and is not discounted.
    let sp = app
        .post(&format!("/api/v1/customers/{}/prices", w.c1), t, json!({"item_id": w.item_b, "price": "80.00"}))
        .await;
    assert_eq!(sp.status, 201, "{}", sp.body);
    assert_eq!(sp.body["currency"], "EUR", "the customer's currency by default");
    let sp_url = format!("/api/v1/customers/{}/prices/{}", w.c1, sp.body["id"]);
    let got = app.get(&sp_url, t).await;
    assert_eq!(got.etag_version(), Some(1));
    let patched =
        app.call(reqwest::Method::PATCH, &sp_url, t, Some(json!({"price": "79.00"})), &[("If-Match", "\"1\"")]).await;
    assert_eq!(patched.body["price"], "79.00");
    app.patch(&sp_url, t, json!({"price": "80.00"})).await;
    assert_eq!(app.get(&format!("{sp_url}/history"), t).await.body["data"].as_array().unwrap().len(), 3);
    let lp = app.get(&format!("/api/v1/price-lists/{}/prices?item_id={}", w.retail, w.item_b), t).await.body["data"][0]
        ["id"]
        .clone();
    let lph = app.get(&format!("/api/v1/price-lists/{}/prices/{lp}/history", w.retail), t).await;
    assert_eq!(lph.body["data"][0]["action"], "create");
    let q = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "date": "2026-06-15", "lines": [line(w.item_b, "1")]}),
        )
        .await;
    assert_eq!(q.body["lines"][0]["source"]["kind"], "customer_price");
    assert_eq!(q.body["lines"][0]["adjustments"], json!([]));
    assert_eq!((q.body["totals"]["net"].as_str(), q.body["totals"]["gross"].as_str()), (Some("80.00"), Some("86.40")));

    // Another currency: converted at the latest rate on or before the date; base totals back in EUR.
    app.post(
        "/api/v1/exchange-rates",
        t,
        json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.25", "valid_from": "2026-01-01"}),
    )
    .await;
    app.post(
        "/api/v1/exchange-rates",
        t,
        json!({"from_currency": "EUR", "to_currency": "PLN", "rate": "4.40", "valid_from": "2026-07-01"}),
    )
    .await;
    let pln = json!({"customer_id": w.c1, "currency": "PLN", "date": "2026-06-15", "lines": [line(w.item_a, "3")]});
    let q = app.post("/api/v1/pricing/quote", t, pln.clone()).await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["lines"][0]["base_unit_price"], "42.50");
    assert_eq!(q.body["totals"]["net"], "118.70");
    assert_eq!(q.body["totals"]["gross"], "146.00");
    assert_eq!(
        q.body["base_currency"],
        json!({"currency": "EUR", "rate": "0.23529412", "net": "27.93", "tax": "6.42", "gross": "34.35"})
    );
    let mut later = pln.clone();
    later["date"] = json!("2026-07-02");
    assert_eq!(app.post("/api/v1/pricing/quote", t, later).await.body["lines"][0]["base_unit_price"], "44.00");
    let usd = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "currency": "USD", "lines": [line(w.item_a, "1")]}),
        )
        .await;
    usd.problem(422, "fx_rate_missing");

    // Parent policy: a child without a list uses its parent's (derived) list.
    let wholesale = id(&app
        .post(
            "/api/v1/price-lists",
            t,
            json!({"name": "Wholesale", "currency": "EUR", "base_price_list_id": w.retail, "markup_percent": "20"}),
        )
        .await);
    let parent = id(&app
        .post("/api/v1/customers", t, json!({"name": "Parent", "currency": "EUR", "price_list_id": wholesale}))
        .await);
    let child =
        id(&app.post("/api/v1/customers", t, json!({"name": "Child", "currency": "EUR", "parent_id": parent})).await);
    let q = app.post("/api/v1/pricing/quote", t, json!({"customer_id": child, "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(q.body["price_list_id"], wholesale);
    assert_eq!(q.body["lines"][0]["source"]["kind"], "derived_price_list");
    assert_eq!(q.body["lines"][0]["base_unit_price"], "12.00");
    assert_eq!(q.body["totals"]["net"], "11.40");

    // Tax-exempt customers pay no tax.
    let exempt = id(&app
        .post("/api/v1/customers", t, json!({"name": "NGO", "currency": "EUR", "tax_treatment": "exempt"}))
        .await);
    let q = app.post("/api/v1/pricing/quote", t, json!({"customer_id": exempt, "lines": [line(w.item_a, "1")]})).await;
    assert_eq!((q.body["totals"]["net"].as_str(), q.body["totals"]["tax"].as_str()), (Some("9.50"), Some("0.00")));

    // Bad baskets: every unpriceable line named; validation of the request itself.
    let r = app.post("/api/v1/pricing/quote", t, json!({"customer_id": w.c1, "lines": [line(999, "1"), json!({"item_id": w.item_a, "quantity": "1", "unit": "BOX"})]})).await;
    r.problem(422, "unpriceable_lines");
    assert_eq!(r.error_fields(), vec!["lines[0].item_id", "lines[1].unit"]);
    assert_eq!(r.body["errors"][1]["code"], "unit_not_allowed");
    let r = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [line(w.item_a, "0"), line(w.item_a, "-1")]}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["lines[0].quantity", "lines[1].quantity"]);
    let r = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [line(w.item_a, "1"), line(w.item_a, "1.00001")]}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["lines[1].quantity"]);
    app.post("/api/v1/pricing/quote", t, json!({"customer_id": w.c1, "lines": []}))
        .await
        .problem(422, "validation_failed");
    app.post("/api/v1/pricing/quote", t, json!({"customer_id": 999, "lines": [line(w.item_a, "1")]}))
        .await
        .problem(404, "not_found");

    // Agents price only their own customers.
    let (_, agent) = app.user("agent", &["sales_agent"]).await;
    app.post("/api/v1/pricing/quote", &agent, basket).await.problem(404, "not_found");
    let mine = id(&app.post("/api/v1/customers", &agent, json!({"name": "Mine", "currency": "EUR"})).await);
    assert_eq!(
        app.post("/api/v1/pricing/quote", &agent, json!({"customer_id": mine, "lines": [line(w.item_a, "1")]}))
            .await
            .status,
        200
    );
    app.get(&format!("/api/v1/customers/{}/prices", w.c1), &agent).await.problem(404, "not_found");

    // A constant number of statements, whatever the number of lines.
    let mut many = vec![];
    for n in 0..20 {
        let item = id(&app
            .post(
                "/api/v1/items",
                t,
                json!({"sku": format!("M{n}"), "name": "M", "base_unit": "PCS", "kind": "stock", "tax_rate_id": 1}),
            )
            .await);
        id(&app
            .post(&format!("/api/v1/price-lists/{}/prices", w.retail), t, json!({"item_id": item, "price": "1.00"}))
            .await);
        many.push(line(item, "2"));
    }
    let q20 = app.post("/api/v1/pricing/quote", t, json!({"customer_id": child, "lines": many.clone()})).await;
    assert_eq!(q20.status, 200, "{}", q20.body);
    assert!(q20.statements() <= 15, "a 20-line quote took {} statements", q20.statements());
    let q1 = app.post("/api/v1/pricing/quote", t, json!({"customer_id": child, "lines": [many[0].clone()]})).await;
    assert_eq!(q1.statements(), q20.statements(), "statements do not grow with lines");
}

async fn rules_coupons_and_shipping(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let before = app.count("audit_log");
    let r = app
        .post("/api/v1/pricing-rules", t, json!({"name": "Everything", "action": "discount_percent", "percent": "5"}))
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "no_target_or_condition");
    let r = app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "X", "item_id": w.item_a, "action": "discount_amount", "amount": "1"}),
        )
        .await;
    assert_eq!(r.error_fields(), vec!["currency"]);
    let r =
        app.post("/api/v1/pricing-rules", t, json!({"name": "X", "item_id": w.item_a, "action": "free_item"})).await;
    assert_eq!(r.error_fields(), vec!["buy_quantity", "free_item_id", "free_quantity"]);
    app.post(
        "/api/v1/pricing-rules",
        t,
        json!({"name": "X", "item_id": 999, "action": "discount_percent", "percent": "1"}),
    )
    .await
    .problem(404, "not_found");
    assert_eq!(app.count("audit_log"), before, "refused rules write nothing");

    // A coupon-only rule and its coupon.
    let half = id(&app.post("/api/v1/pricing-rules", t, json!({"name": "Half price", "item_id": w.item_a, "coupon_only": true, "action": "discount_percent", "percent": "50"})).await);
    let coupon =
        app.post("/api/v1/coupons", t, json!({"code": "Half", "pricing_rule_id": half, "max_uses": 100})).await;
    assert_eq!(coupon.status, 201, "{}", coupon.body);
    assert_eq!(coupon.body["code"], "HALF");
    assert_eq!(coupon.body["uses"], 0);
    app.post("/api/v1/coupons", t, json!({"code": "half", "pricing_rule_id": half}))
        .await
        .problem(409, "duplicate_code");
    let quote = |body: Value| {
        let app = &app;
        async move { app.post("/api/v1/pricing/quote", &app.admin_token, body).await }
    };
    let plain = quote(json!({"customer_id": w.c1, "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(plain.body["totals"]["net"], "9.31");
    let with = quote(json!({"customer_id": w.c1, "coupon_code": "half", "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(with.status, 200, "{}", with.body);
    // 10.00 → rule 50% 5.00 → group 5% 4.75 → customer 2% 4.655 → 4.66
    assert_eq!(with.body["totals"]["net"], "4.66");
    assert_eq!(with.body["coupon"], json!({"code": "HALF", "pricing_rule_id": half}));
    let unknown = quote(json!({"customer_id": w.c1, "coupon_code": "NOPE", "lines": [line(w.item_a, "1")]})).await;
    unknown.problem(422, "coupon_invalid");
    assert_eq!(unknown.body["errors"][0]["code"], "unknown");
    let other = id(&app.post("/api/v1/customers", t, json!({"name": "Other", "currency": "EUR"})).await);
    id(&app.post("/api/v1/coupons", t, json!({"code": "THEIRS", "pricing_rule_id": half, "customer_id": other})).await);
    let theirs = quote(json!({"customer_id": w.c1, "coupon_code": "theirs", "lines": [line(w.item_a, "1")]})).await;
    theirs.problem(422, "coupon_invalid");
    assert_eq!(theirs.body["errors"][0]["code"], "other_customer");
    id(&app
        .post("/api/v1/coupons", t, json!({"code": "OLD", "pricing_rule_id": half, "valid_to": "2020-12-31"}))
        .await);
    let old = quote(json!({"customer_id": w.c1, "coupon_code": "OLD", "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(old.body["errors"][0]["code"], "expired");
    let spent =
        id(&app.post("/api/v1/coupons", t, json!({"code": "ONCE", "pricing_rule_id": half, "max_uses": 1})).await);
    app.with_db(|c| {
        use diesel::prelude::*;
        use ordo_db::schema::coupons;
        diesel::update(coupons::table.find(spent)).set(coupons::uses.eq(1i64)).execute(c)
    })
    .unwrap();
    let exhausted = quote(json!({"customer_id": w.c1, "coupon_code": "once", "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(exhausted.body["errors"][0]["code"], "exhausted");
    app.delete(&format!("/api/v1/coupons/{spent}"), t).await.problem(409, "in_use");

    // An exclusive campaign price stops the standard discounts.
    id(&app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "Spring", "item_id": w.item_b, "campaign_code": "SPRING", "exclusive": true,
                                                  "action": "fixed_price", "amount": "70.00", "currency": "EUR"}),
        )
        .await);
    let spring = quote(json!({"customer_id": w.c1, "campaign_code": "spring", "lines": [line(w.item_b, "1")]})).await;
    assert_eq!(spring.body["lines"][0]["adjustments"].as_array().unwrap().len(), 1);
    assert_eq!(spring.body["totals"]["net"], "70.00");
    let no_campaign = quote(json!({"customer_id": w.c1, "lines": [line(w.item_b, "1")]})).await;
    assert_eq!(no_campaign.body["totals"]["net"], "98.00");

    // Buy 2 A, get 1 B free.
    let gift = id(&app
        .post(
            "/api/v1/pricing-rules",
            t,
            json!({"name": "Gift", "item_id": w.item_a, "action": "free_item", "free_item_id": w.item_b,
                                                  "buy_quantity": "2", "free_quantity": "1"}),
        )
        .await);
    let free = quote(json!({"customer_id": w.c1, "lines": [line(w.item_a, "5")]})).await;
    let lines = free.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["item_id"], w.item_b);
    assert_eq!(lines[1]["quantity"], "2");
    assert_eq!(lines[1]["gross"], "0.00");
    assert_eq!(lines[1]["source"], json!({"kind": "free_item", "pricing_rule_id": gift}));
    // Merge-patch in the create shape: change one field; an inconsistent result is refused.
    let p = app.patch(&format!("/api/v1/pricing-rules/{gift}"), t, json!({"free_quantity": "2"})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["free_quantity"], "2");
    assert_eq!(p.body["version"], 2);
    let broken = app.patch(&format!("/api/v1/pricing-rules/{gift}"), t, json!({"free_item_id": null})).await;
    assert_eq!(broken.error_fields(), vec!["free_item_id"]);
    app.patch(&format!("/api/v1/pricing-rules/{gift}"), t, json!({"active": false})).await;

    // Shipping: fixed 15.00 to DE, taxed at VAT23, free from 500.00 net.
    let vat23 = 1;
    let sr = app
        .post("/api/v1/shipping-rules", t, json!({"name": "DE parcel", "countries": ["DE"], "basis": "net_amount", "charge": "fixed",
                                                   "amount": "15.00", "currency": "EUR", "free_above": "500.00", "tax_rate_id": vat23}))
        .await;
    assert_eq!(sr.status, 201, "{}", sr.body);
    let bad = app
        .post(
            "/api/v1/shipping-rules",
            t,
            json!({"name": "x", "countries": ["Germany"], "basis": "weight", "charge": "percent", "currency": "EUR"}),
        )
        .await;
    assert_eq!(bad.error_fields(), vec!["countries"]);
    let shipped = quote(json!({"customer_id": w.c1, "shipping_country": "DE", "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(shipped.body["shipping"]["net"], "15.00");
    assert_eq!(shipped.body["shipping"]["tax"], "3.45");
    assert_eq!(shipped.body["totals"]["shipping"], "15.00");
    // 9.31 + 15.00 net; 2.14 + 3.45 tax
    assert_eq!(shipped.body["totals"]["net"], "24.31");
    assert_eq!(shipped.body["totals"]["tax"], "5.59");
    assert_eq!(shipped.body["totals"]["gross"], "29.90");
    let abroad = quote(json!({"customer_id": w.c1, "shipping_country": "FR", "lines": [line(w.item_a, "1")]})).await;
    assert_eq!(abroad.body["shipping"], Value::Null);
    let big = quote(json!({"customer_id": w.c1, "shipping_country": "DE", "lines": [line(w.item_b, "6")]})).await;
    assert_eq!(big.body["shipping"]["net"], "0.00", "free above 500");

    // A priced item is archived, not deleted, and can no longer be sold.
    let archived = app.delete(&format!("/api/v1/items/{}", w.item_a), t).await;
    assert_eq!(archived.status, 200, "{}", archived.body);
    assert!(archived.body["archived_at"].is_string());
    let gone = quote(json!({"customer_id": w.c1, "lines": [line(w.item_a, "1")]})).await;
    gone.problem(422, "unpriceable_lines");
    assert_eq!(gone.body["errors"][0]["code"], "inactive");
    let group = app.get(&format!("/api/v1/items/{}", w.item_a), t).await.body["item_group_id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/item-groups/{group}"), t).await.problem(409, "in_use");
    app.delete("/api/v1/tax-rates/1", t).await.problem(409, "in_use");
}

async fn bulk_adjust(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let url = format!("/api/v1/price-lists/{}/adjust", w.retail);
    let audit = app.count("audit_log");
    let dry = app.post(&url, t, json!({"percent": "10", "rounding_step": "0.05", "dry_run": true})).await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["count"], 3);
    let afters: Vec<&str> =
        dry.body["changes"].as_array().unwrap().iter().map(|c| c["after"].as_str().unwrap()).collect();
    assert_eq!(afters, vec!["11.00", "9.90", "110.00"]);
    assert_eq!(app.count("audit_log"), audit, "a dry run writes nothing");
    let prices = format!("/api/v1/price-lists/{}/prices?item_id={}", w.retail, w.item_a);
    assert_eq!(app.get(&prices, t).await.body["data"][0]["price"], "10.00");

    let group = app.get(&format!("/api/v1/items/{}", w.item_a), t).await.body["item_group_id"].clone();
    let real = app.post(&url, t, json!({"percent": "-5", "item_group_id": group, "price_ending": "0.99"})).await;
    assert_eq!(real.body["count"], 2);
    let now: Vec<String> = app.get(&prices, t).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(now, vec!["9.99", "8.99"]);
    let b = format!("/api/v1/price-lists/{}/prices?item_id={}", w.retail, w.item_b);
    assert_eq!(app.get(&b, t).await.body["data"][0]["price"], "100.00", "other groups untouched");
    let h = app.get(&format!("/api/v1/price-lists/{}/history", w.retail), t).await;
    let actions: Vec<&str> = h.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["create", "adjust"], "one history entry for the whole run");

    app.post(&url, t, json!({"percent": "-150"})).await.problem(422, "validation_failed");
    let both = app.post(&url, t, json!({"percent": "1", "rounding_step": "0.05", "price_ending": "0.99"})).await;
    assert_eq!(both.error_fields(), vec!["price_ending"]);
    app.post(&url, t, json!({"percent": "1", "item_group_id": 999})).await.problem(404, "not_found");
    let (_, agent) = app.user("agent", &["sales_agent"]).await;
    app.post(&url, &agent, json!({"percent": "1"})).await.problem(403, "forbidden");
}

async fn units_convert_exactly(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let units = app.get("/api/v1/units", t).await;
    assert!(units.body["data"].as_array().unwrap().iter().any(|u| u["code"] == "BOX" && u["decimals"] == 0));
    let bad =
        app.post("/api/v1/items", t, json!({"sku": "U", "name": "U", "base_unit": "CRATE", "kind": "stock"})).await;
    bad.problem(422, "validation_failed");
    assert_eq!(bad.body["errors"][0]["code"], "unknown_unit");
    assert_eq!(
        app.post("/api/v1/units", t, json!({"code": "CRATE", "name": "Crate", "decimals": 0})).await.status,
        201
    );
    app.post("/api/v1/units", t, json!({"code": "CRATE", "name": "Crate", "decimals": 0}))
        .await
        .problem(409, "duplicate_code");

    let conv = app.post(&format!("/api/v1/items/{}/units", w.item_a), t, json!({"unit": "BOX", "factor": "12"})).await;
    assert_eq!(conv.status, 201, "{}", conv.body);
    app.post(&format!("/api/v1/items/{}/units", w.item_a), t, json!({"unit": "BOX", "factor": "10"}))
        .await
        .problem(409, "duplicate_unit");
    app.post(&format!("/api/v1/items/{}/units", w.item_a), t, json!({"unit": "PCS", "factor": "1"}))
        .await
        .problem(422, "validation_failed");
    app.post(&format!("/api/v1/items/{}/units", w.item_a), t, json!({"unit": "NOPE", "factor": "1"}))
        .await
        .problem(422, "validation_failed");
    let zero = app.post(&format!("/api/v1/items/{}/units", w.item_a), t, json!({"unit": "SET", "factor": "0"})).await;
    assert_eq!(zero.error_fields(), vec!["factor"]);

    // 2 BOX = 24 PCS: the 10+ tier of the PCS price (9.00) times 12 per box.
    let q = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [{"item_id": w.item_a, "quantity": "2", "unit": "BOX"}]}),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["lines"][0]["base_quantity"], "24");
    assert_eq!(q.body["lines"][0]["base_unit_price"], "108.00");
    assert_eq!(q.body["lines"][0]["unit"], "BOX");
    // A price of its own in BOX wins over the conversion.
    app.post(
        &format!("/api/v1/price-lists/{}/prices", w.retail),
        t,
        json!({"item_id": w.item_a, "unit": "BOX", "price": "99.00"}),
    )
    .await;
    let q = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [{"item_id": w.item_a, "quantity": "2", "unit": "BOX"}]}),
        )
        .await;
    assert_eq!(q.body["lines"][0]["base_unit_price"], "99.00");
    // PCS allows no decimals.
    let r = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [{"item_id": w.item_a, "quantity": "1.5"}]}),
        )
        .await;
    r.problem(422, "unpriceable_lines");
    assert_eq!(r.body["errors"][0]["code"], "too_precise_for_unit");
    let list = app.get(&format!("/api/v1/items/{}/units", w.item_a), t).await;
    let id = list.body["data"][0]["id"].as_i64().unwrap();
    let up = app.patch(&format!("/api/v1/items/{}/units/{id}", w.item_a), t, json!({"factor": "10"})).await;
    assert_eq!(up.body["factor"], "10");
    assert_eq!(
        app.get(&format!("/api/v1/items/{}/units/{id}/history", w.item_a), t).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(app.delete(&format!("/api/v1/items/{}/units/{id}", w.item_a), t).await.status, 204);
    let units = app.get("/api/v1/units", t).await;
    let pcs =
        units.body["data"].as_array().unwrap().iter().find(|u| u["code"] == "PCS").unwrap()["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/units/{pcs}"), t).await.problem(409, "in_use");
}

async fn bundles_and_options(app: TestApp) {
    let t = &app.admin_token;
    let w = world(&app).await;
    let kit = id(&app
        .post("/api/v1/items", t, json!({"sku": "KIT", "name": "Tool kit", "base_unit": "PCS", "kind": "stock", "bundle_pricing": "components", "tax_rate_id": 1}))
        .await);
    let comps = format!("/api/v1/items/{kit}/components");
    assert_eq!(app.post(&comps, t, json!({"component_item_id": w.item_a, "quantity": "2"})).await.status, 201);
    let opt = app
        .post(
            &comps,
            t,
            json!({"component_item_id": w.item_b, "quantity": "1", "required": false, "price_override": "80.00"}),
        )
        .await;
    assert_eq!(opt.status, 201, "{}", opt.body);
    app.post(&comps, t, json!({"component_item_id": w.item_a, "quantity": "1"}))
        .await
        .problem(409, "duplicate_component");
    let cyc = app
        .post(&format!("/api/v1/items/{}/components", w.item_a), t, json!({"component_item_id": kit, "quantity": "1"}))
        .await;
    cyc.problem(422, "validation_failed");
    assert_eq!(cyc.body["errors"][0]["code"], "cycle");
    let opts = format!("/api/v1/items/{kit}/options");
    let colour = app
        .post(
            &opts,
            t,
            json!({"name": "colour", "required": true, "choices": [
            {"code": "red", "name": "Red"}, {"code": "blue", "name": "Blue", "price_delta": "5.00"}]}),
        )
        .await;
    assert_eq!(colour.status, 201, "{}", colour.body);
    let dup = app
        .post(
            &opts,
            t,
            json!({"name": "size", "choices": [{"code": "s", "name": "S"}, {"code": "s", "name": "S again"}]}),
        )
        .await;
    assert_eq!(dup.error_fields(), vec!["choices[1].code"]);
    app.post(&opts, t, json!({"name": "warranty", "choices": [{"code": "ext", "name": "Extended", "component_item_id": w.item_a, "component_quantity": "1"}]})).await;
    assert_eq!(app.get(&opts, t).await.body["data"].as_array().unwrap().len(), 2);
    let comp_id = opt.body["id"].as_i64().unwrap();
    let cp = app.patch(&format!("{comps}/{comp_id}"), t, json!({"quantity": "2"})).await;
    assert_eq!(cp.status, 200, "{}", cp.body);
    assert_eq!(cp.body["price_override"], "80.00", "absent fields stay");
    let ch = app.get(&format!("{comps}/{comp_id}/history"), t).await;
    assert_eq!(ch.body["data"][1]["changes"]["quantity"], json!({"from": "1", "to": "2"}));
    app.patch(&format!("{comps}/{comp_id}"), t, json!({"quantity": "1"})).await;
    let colour_id = colour.body["id"].as_i64().unwrap();
    let og = app.patch(&format!("{opts}/{colour_id}"), t, json!({"required": true})).await;
    assert_eq!(og.status, 200, "{}", og.body);
    let bad = app.patch(&format!("{opts}/{colour_id}"), t, json!({"choices": []})).await;
    assert_eq!(bad.error_fields(), vec!["choices"]);

    let line = |extra: Value| {
        let mut l = json!({"item_id": kit, "quantity": "1"});
        for (k, v) in extra.as_object().unwrap() {
            l[k] = v.clone();
        }
        json!({"customer_id": w.c1, "lines": [l]})
    };
    // Sum of components: 2 × 10.00, + blue 5.00 = 25.00; customer 2% → 24.50.
    let q = app.post("/api/v1/pricing/quote", t, line(json!({"options": {"colour": "blue"}}))).await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.body["lines"][0]["source"]["kind"], "components");
    assert_eq!(q.body["lines"][0]["base_unit_price"], "25.00");
    assert_eq!(q.body["lines"][0]["components"].as_array().unwrap().len(), 1);
    assert_eq!(q.body["lines"][0]["options"], json!([{"group": "colour", "code": "blue", "price_delta": "5.00"}]));
    assert_eq!(q.body["totals"]["net"], "24.50");
    // The optional component at its override, and a warranty choice bringing a component.
    let q = app
        .post(
            "/api/v1/pricing/quote",
            t,
            line(json!({"options": {"colour": "red", "warranty": "ext"}, "components": [w.item_b]})),
        )
        .await;
    assert_eq!(q.body["lines"][0]["base_unit_price"], "110.00", "20 + 80 + 10");
    assert_eq!(q.body["lines"][0]["components"].as_array().unwrap().len(), 3);
    // Bad configurations, each named.
    let r = app.post("/api/v1/pricing/quote", t, line(json!({}))).await;
    r.problem(422, "unpriceable_lines");
    assert_eq!(r.body["errors"][0]["field"], "lines[0].options.colour");
    assert_eq!(r.body["errors"][0]["code"], "option_required");
    let r = app
        .post(
            "/api/v1/pricing/quote",
            t,
            line(json!({"options": {"colour": "green", "size": "xl"}, "components": [999]})),
        )
        .await;
    let codes: Vec<&str> = r.body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["unknown_component", "unknown_choice", "unknown_option"]);

    // An own-priced bundle: its own price plus chosen optional components.
    let own = id(&app
        .post("/api/v1/items", t, json!({"sku": "OWN", "name": "Own kit", "base_unit": "PCS", "kind": "stock"}))
        .await);
    app.post(&format!("/api/v1/items/{own}/components"), t, json!({"component_item_id": w.item_a, "quantity": "1"}))
        .await;
    app.post(
        &format!("/api/v1/items/{own}/components"),
        t,
        json!({"component_item_id": w.item_b, "quantity": "1", "required": false}),
    )
    .await;
    app.post(&format!("/api/v1/price-lists/{}/prices", w.retail), t, json!({"item_id": own, "price": "50.00"})).await;
    let q = app
        .post(
            "/api/v1/pricing/quote",
            t,
            json!({"customer_id": w.c1, "lines": [{"item_id": own, "quantity": "1", "components": [w.item_b]}]}),
        )
        .await;
    assert_eq!(q.body["lines"][0]["base_unit_price"], "150.00");
    assert_eq!(q.body["totals"]["net"], "147.00");
    // Removing the structure makes it a plain item again.
    for c in app.get(&format!("/api/v1/items/{own}/components"), t).await.body["data"].as_array().unwrap() {
        assert_eq!(app.delete(&format!("/api/v1/items/{own}/components/{}", c["id"]), t).await.status, 204);
    }
    let q = app
        .post("/api/v1/pricing/quote", t, json!({"customer_id": w.c1, "lines": [{"item_id": own, "quantity": "1"}]}))
        .await;
    assert_eq!(q.body["lines"][0]["components"], json!([]));
}
