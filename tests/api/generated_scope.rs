//! The scope test generated from the OpenAPI document: two sales agents each own a
//! full set of documents (customer, contact, quotation, orders, deliveries, a return,
//! a blanket order, pipeline records, a reservation). For every operation of the
//! document, agent B asks with agent A's ids and with ids that do not exist — in the
//! path, and in every id field of the body — and must get the same answer both ways,
//! never a success. New endpoints and fields are covered without new test code.
//! `ORDO_SCOPE_TRACE=1` prints every check with the answer it got.

use crate::on_both_backends;
use crate::support::{id, ok, Resp, TestApp};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

on_both_backends!(another_agents_ids_look_missing, roles_without_the_right_are_refused);

/// Write operations any signed-in caller may use: their own session, and reads that
/// take a body (pricing a basket, promising; `?accept=true`, which writes promised
/// dates, is checked on its own below).
const OPEN_TO_EVERY_ROLE: [(&str, &str); 5] = [
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/pricing/quote"),
    ("post", "/api/v1/promising"),
    ("post", "/api/v1/quotations/{id}/promise"),
    ("post", "/api/v1/sales-orders/{id}/promise"),
];

/// Approval decisions: the open stage's role is the permission (any role can be an
/// approver), so no role is refused up front; on an order that is not pending the
/// answer is 409 for everyone. Who may decide a stage: `tests/api/sales.rs`.
const DECIDED_BY_THE_STAGE_ROLE: [&str; 2] = ["/api/v1/sales-orders/{id}/approve", "/api/v1/sales-orders/{id}/reject"];

/// Bodies (or required query parameters) this walk cannot make valid, by rules the
/// schema does not state: the request is refused (400/422) before the role is asked,
/// which tells a viewer no more than the document does. The list may only shrink: an
/// operation here that answers 403 fails the test too.
const BODY_NOT_SYNTHESIZED: [&str; 6] = [
    "/api/v1/commission-plans/{id}/statements",
    "/api/v1/dunning-levels",
    "/api/v1/imports",
    "/api/v1/sales-targets",
    "/api/v1/service-settings",
    "/api/v1/users",
];

/// An id no row has.
const MISSING: i64 = 987_654_321;

/// Path segments (collections) whose rows belong to customers and so to an agent's
/// scope; everything else (items, price lists, warehouses, ...) is shared.
const SCOPED: [&str; 13] = [
    "customers",
    "quotations",
    "sales-orders",
    "blanket-orders",
    "deliveries",
    "returns",
    "reservations",
    "opportunities",
    "leads",
    "activities",
    "invoices",
    "payments",
    "tickets",
];

/// One agent's objects, by kind.
type Objects = HashMap<&'static str, i64>;

struct Shared {
    item: i64,
    warehouse: i64,
}

async fn shared(app: &TestApp) -> Shared {
    let t = &app.admin_token;
    let item = id(app
        .post("/api/v1/items", t, json!({"sku": "G1", "name": "Generic", "base_unit": "PCS", "kind": "stock"}))
        .await);
    let list =
        id(app.post("/api/v1/price-lists", t, json!({"name": "L", "currency": "EUR", "is_default": true})).await);
    ok(app.post(&format!("/api/v1/price-lists/{list}/prices"), t, json!({"item_id": item, "price": "10.00"})).await);
    let warehouse =
        id(app.post("/api/v1/warehouses", t, json!({"code": "MAIN", "name": "Main", "is_default": true})).await);
    ok(app
        .post(
            "/api/v1/stock/receipts",
            t,
            json!({"item_id": item, "warehouse_id": warehouse, "quantity": "1000", "unit_cost": "1"}),
        )
        .await);
    ok(app.post("/api/v1/pipeline-stages", t, json!({"name": "New", "position": 1, "probability": "10"})).await);
    Shared { item, warehouse }
}

/// Everything an agent owns, made through the API as that agent where agents may.
async fn objects(app: &TestApp, s: &Shared, name: &str) -> (String, Objects) {
    let t = &app.admin_token;
    let (uid, token) = app.user(name, &["sales_agent"]).await;
    let a = token.as_str();
    let mut o = Objects::new();
    let customer = id(app
        .post("/api/v1/customers", t, json!({"name": format!("{name}'s"), "currency": "EUR", "owner_id": uid}))
        .await);
    o.insert("customer", customer);
    o.insert(
        "contact",
        id(app.post(&format!("/api/v1/customers/{customer}/contacts"), a, json!({"name": "Buyer"})).await),
    );
    let line = json!([{"item_id": s.item, "quantity": "4"}]);
    let q = ok(app.post("/api/v1/quotations", a, json!({"customer_id": customer, "lines": line})).await);
    o.insert("quotation", q["id"].as_i64().unwrap());
    o.insert("quotation_line", q["lines"][0]["id"].as_i64().unwrap());
    let draft = ok(app.post("/api/v1/sales-orders", a, json!({"customer_id": customer, "lines": line})).await);
    o.insert("draft_order", draft["id"].as_i64().unwrap());
    o.insert("draft_order_line", draft["lines"][0]["id"].as_i64().unwrap());
    let order = ok(app
        .post(
            "/api/v1/sales-orders",
            a,
            json!({"customer_id": customer, "contract_number": "K", "payment_terms_days": 30, "lines": line}),
        )
        .await);
    let oid = order["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/submit"), a, json!({})).await);
    ok(app.post(&format!("/api/v1/sales-orders/{oid}/confirm"), a, json!({})).await);
    o.insert("order", oid);
    o.insert("order_line", order["lines"][0]["id"].as_i64().unwrap());
    let d = ok(app
        .post(
            &format!("/api/v1/sales-orders/{oid}/deliveries"),
            t,
            json!({"lines": [{"line_id": o["order_line"], "quantity": "2"}]}),
        )
        .await);
    let did = d["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/deliveries/{did}/ship"), t, json!({})).await);
    o.insert("delivery", did);
    o.insert("delivery_line", d["lines"][0]["id"].as_i64().unwrap());
    o.insert(
        "open_delivery",
        id(app
            .post(
                &format!("/api/v1/sales-orders/{oid}/deliveries"),
                t,
                json!({"lines": [{"line_id": o["order_line"], "quantity": "1"}]}),
            )
            .await),
    );
    o.insert(
        "return",
        id(app
            .post(
                "/api/v1/returns",
                a,
                json!({"delivery_id": did, "reason": "r", "condition": "resaleable",
                    "lines": [{"delivery_line_id": o["delivery_line"], "quantity": "1"}]}),
            )
            .await),
    );
    let today = time::OffsetDateTime::now_utc().date();
    let b = ok(app
        .post(
            "/api/v1/blanket-orders",
            a,
            json!({"customer_id": customer, "kind": "quantity", "valid_from": today.to_string(),
                "valid_to": (today + time::Duration::days(30)).to_string(), "lines": [{"item_id": s.item, "quantity": "100"}]}),
        )
        .await);
    let bid = b["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/blanket-orders/{bid}/activate"), a, json!({})).await);
    o.insert("blanket", bid);
    o.insert("blanket_line", b["lines"][0]["id"].as_i64().unwrap());
    let draft_blanket = ok(app
        .post(
            "/api/v1/blanket-orders",
            a,
            json!({"customer_id": customer, "kind": "quantity", "valid_from": today.to_string(),
                "valid_to": (today + time::Duration::days(30)).to_string(), "lines": [{"item_id": s.item, "quantity": "5"}]}),
        )
        .await);
    o.insert("draft_blanket", draft_blanket["id"].as_i64().unwrap());
    o.insert("draft_blanket_line", draft_blanket["lines"][0]["id"].as_i64().unwrap());
    o.insert("lead", id(app.post("/api/v1/leads", a, json!({"person_name": "Lee"})).await));
    o.insert(
        "opportunity",
        id(app
            .post(
                "/api/v1/opportunities",
                a,
                json!({"title": "Deal", "customer_id": customer, "amount": "100.00", "currency": "EUR"}),
            )
            .await),
    );
    o.insert(
        "activity",
        id(app.post("/api/v1/activities", a, json!({"kind": "note", "subject": "n", "customer_id": customer})).await),
    );
    o.insert(
        "reservation",
        id(app
            .post(
                "/api/v1/reservations",
                a,
                json!({"item_id": s.item, "warehouse_id": s.warehouse, "quantity": "1", "customer_id": customer}),
            )
            .await),
    );
    // Billing is the accountant's (here the admin's): a posted invoice of the shipped
    // delivery, a payment, a draft credit note.
    let inv = ok(app.post(&format!("/api/v1/deliveries/{did}/invoice"), t, json!({})).await);
    let iid = inv["id"].as_i64().unwrap();
    ok(app.post(&format!("/api/v1/invoices/{iid}/post"), t, json!({})).await);
    o.insert("invoice", iid);
    o.insert("invoice_line", inv["lines"][0]["id"].as_i64().unwrap());
    o.insert(
        "payment",
        id(app
            .post(
                "/api/v1/payments",
                t,
                json!({"customer_id": customer, "amount": "1.00", "currency": "EUR", "method": "cash"}),
            )
            .await),
    );
    // A complaint about the delivery, opened by the agent.
    let ticket = id(app
        .post(
            "/api/v1/tickets",
            a,
            json!({"customer_id": customer, "kind": "complaint", "subject": "Dented", "sales_order_id": oid,
                "delivery_id": did, "invoice_id": iid}),
        )
        .await);
    o.insert("ticket", ticket);
    // A file on each kind of record that has attachments.
    for (kind, path) in [
        ("customer_file", format!("/api/v1/customers/{customer}/attachments")),
        ("quotation_file", format!("/api/v1/quotations/{}/attachments", o["quotation"])),
        ("order_file", format!("/api/v1/sales-orders/{oid}/attachments")),
        ("blanket_file", format!("/api/v1/blanket-orders/{bid}/attachments")),
        ("delivery_file", format!("/api/v1/deliveries/{did}/attachments")),
        ("invoice_file", format!("/api/v1/invoices/{iid}/attachments")),
        ("ticket_file", format!("/api/v1/tickets/{ticket}/attachments")),
    ] {
        o.insert(kind, id(app.attach(&path, t, &[("kind", "other")], "note.txt", b"a note").await));
    }
    (token, o)
}

/// The path with each parameter filled from `objs` (the leaf only, others from
/// `fallback`, when `leaf_only`); None when no parameter names a scoped object, or
/// one names an object of unknown kind and `unknown` gives no id for those.
fn fill_path(
    segments: &[&str],
    method: &str,
    objs: &Objects,
    fallback: &Objects,
    leaf_only: bool,
    unknown: Option<i64>,
) -> Option<String> {
    let mut out = vec![];
    let mut scoped_param = false;
    let params: Vec<usize> = (0..segments.len()).filter(|i| segments[*i].starts_with('{')).collect();
    for (i, seg) in segments.iter().enumerate() {
        if let Some(param) = seg.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let collection = segments[i - 1];
            // Header and line edits need a draft document, or every answer is 409.
            let about_lines = segments.get(i + 1) == Some(&"lines")
                || (segments.len() == i + 1 && matches!(method, "patch" | "delete"));
            let kind = match (collection, param) {
                ("lines", _) => match segments[0] {
                    "quotations" => Some("quotation_line"),
                    "sales-orders" => Some("draft_order_line"),
                    "blanket-orders" => Some("draft_blanket_line"),
                    _ => None,
                },
                ("attachments", _) => match segments[0] {
                    "customers" => Some("customer_file"),
                    "quotations" => Some("quotation_file"),
                    "sales-orders" => Some("order_file"),
                    "blanket-orders" => Some("blanket_file"),
                    "deliveries" => Some("delivery_file"),
                    "invoices" => Some("invoice_file"),
                    "tickets" => Some("ticket_file"),
                    _ => None,
                },
                ("sales-orders", "id") if about_lines => Some("draft_order"),
                ("blanket-orders", "id") if about_lines => Some("draft_blanket"),
                _ => path_kind(collection, param),
            };
            let Some(kind) = kind else {
                out.push(unknown?.to_string());
                continue;
            };
            let use_given = !leaf_only || Some(&i) == params.last();
            let v = if use_given { objs[kind] } else { fallback[kind] };
            scoped_param |= use_given;
            out.push(v.to_string());
        } else {
            out.push(seg.to_string());
        }
    }
    (scoped_param || unknown.is_some()).then(|| format!("/api/v1/{}", out.join("/")))
}

/// The kind of object a path parameter names, from the segment before it.
fn path_kind(collection: &str, param: &str) -> Option<&'static str> {
    Some(match (collection, param) {
        ("customers", "id") => "customer",
        ("contacts", _) => "contact",
        ("quotations", "id") => "quotation",
        ("sales-orders", "id") => "order",
        ("blanket-orders", "id") => "blanket",
        ("deliveries", "id") => "delivery",
        ("returns", "id") => "return",
        ("reservations", "id") => "reservation",
        ("opportunities", "id") => "opportunity",
        ("leads", "id") => "lead",
        ("activities", "id") => "activity",
        ("invoices", "id") => "invoice",
        ("payments", "id") => "payment",
        ("tickets", "id") => "ticket",
        _ => return None,
    })
}

/// The kind of object a body field names, given the operation's path.
fn field_kind(path: &str, field: &str) -> Option<&'static str> {
    let last = field.rsplit('.').next().unwrap_or(field);
    Some(match last {
        "customer_id" | "parent_id" if !path.contains("item-groups") && !path.contains("territories") => "customer",
        "contact_id" => "contact",
        "quotation_id" => "quotation",
        "sales_order_id" => "order",
        "opportunity_id" => "opportunity",
        "lead_id" => "lead",
        "blanket_line_id" => "blanket_line",
        "order_line_id" => "order_line",
        "delivery_id" => "delivery",
        "delivery_line_id" => "delivery_line",
        "invoice_id" | "credited_invoice_id" => "invoice",
        "invoice_line_id" => "invoice_line",
        "line_id" if path.starts_with("/api/v1/sales-orders") => "order_line",
        "line_id" if path.starts_with("/api/v1/blanket-orders") => "blanket_line",
        _ => return None,
    })
}

/// Builds a body from a schema: every required property gets a plausible value, ids a
/// valid object of the caller's own (`mine`) where the kind is known.
struct Synth<'a> {
    schemas: &'a Map<String, Value>,
    mine: &'a Objects,
    shared: &'a Shared,
    path: &'a str,
}

impl Synth<'_> {
    fn resolve<'s>(&'s self, s: &'s Value) -> &'s Value {
        let mut s = s;
        for _ in 0..10 {
            match s.get("$ref").and_then(|r| r.as_str()) {
                Some(r) => s = &self.schemas[r.rsplit('/').next().unwrap()],
                None => break,
            }
        }
        s
    }

    fn id_for(&self, field: &str) -> i64 {
        if let Some(kind) = field_kind(self.path, field) {
            return self.mine[kind];
        }
        match field {
            "item_id" | "component_item_id" | "free_item_id" => self.shared.item,
            f if f.ends_with("warehouse_id") => self.shared.warehouse,
            _ => 1,
        }
    }

    fn value(&self, name: &str, s: &Value, depth: usize) -> Value {
        let s = self.resolve(s);
        if depth > 6 {
            return Value::Null;
        }
        for k in ["oneOf", "anyOf", "allOf"] {
            if let Some(alts) = s.get(k).and_then(|v| v.as_array()) {
                if let Some(alt) = alts.iter().find(|a| self.resolve(a).get("type") != Some(&json!("null"))) {
                    return self.value(name, alt, depth + 1);
                }
            }
        }
        if let Some(e) = s.get("enum").and_then(|e| e.as_array()).and_then(|e| e.iter().find(|v| !v.is_null())) {
            return e.clone();
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
            _ => vec![],
        };
        let ty = types.iter().find(|t| **t != "null").copied().unwrap_or("object");
        match ty {
            "integer" if name.ends_with("_id") => json!(self.id_for(name)),
            "integer" | "number" => json!(s.get("minimum").and_then(|m| m.as_i64()).unwrap_or(1).max(1)),
            "boolean" => json!(false),
            "array" => {
                let n = s.get("minItems").and_then(|m| m.as_u64()).unwrap_or(0);
                if n == 0 && name != "lines" {
                    json!([])
                } else {
                    json!([self.value(name, s.get("items").unwrap_or(&json!({})), depth + 1)])
                }
            }
            "string" => {
                let pattern = s.get("pattern").and_then(|p| p.as_str()).unwrap_or("");
                let format = s.get("format").and_then(|p| p.as_str()).unwrap_or("");
                let today = time::OffsetDateTime::now_utc().date();
                if format == "date" {
                    json!(today.to_string())
                } else if format == "date-time" {
                    json!(format!("{today}T12:00:00Z"))
                } else if format == "email" {
                    json!("x@example.com")
                } else if pattern.contains("[0-9]") && pattern.contains("\\.") {
                    json!("1")
                } else if pattern == "^[A-Z]{3}$" || name.ends_with("currency") {
                    json!("EUR")
                } else if pattern == "^[A-Z]{2}$" || name.ends_with("country") {
                    json!("DE")
                } else if pattern.starts_with("^[A-Z0-9_]") {
                    json!("PCS")
                } else {
                    json!("x1")
                }
            }
            _ => {
                let mut out = Map::new();
                let props = s.get("properties").and_then(|p| p.as_object());
                let required: Vec<&str> = s
                    .get("required")
                    .and_then(|r| r.as_array())
                    .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                if let Some(props) = props {
                    for (k, p) in props {
                        if required.contains(&k.as_str()) {
                            out.insert(k.clone(), self.value(k, p, depth + 1));
                        }
                    }
                }
                Value::Object(out)
            }
        }
    }
}

/// Every id field in a schema, as JSON paths (`lines[0].line_id`).
fn id_fields(synth: &Synth, s: &Value, prefix: &str, depth: usize, out: &mut Vec<(String, Value)>) {
    let s = synth.resolve(s);
    if depth > 4 {
        return;
    }
    for k in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = s.get(k).and_then(|v| v.as_array()) {
            for a in alts {
                id_fields(synth, a, prefix, depth + 1, out);
            }
        }
    }
    if let Some(props) = s.get("properties").and_then(|p| p.as_object()) {
        for (name, p) in props {
            let path = format!("{prefix}{name}");
            if name.ends_with("_id") {
                out.push((path.clone(), p.clone()));
            }
            let p = synth.resolve(p);
            if p.get("items").is_some() {
                id_fields(synth, &p["items"], &format!("{path}[0]."), depth + 1, out);
            } else if p.get("properties").is_some() {
                id_fields(synth, p, &format!("{path}."), depth + 1, out);
            }
        }
    }
}

/// Sets `path` (like `lines[0].line_id`) in a body, creating what is missing.
fn set(body: &mut Value, path: &str, v: Value, synth: &Synth, schema: &Value) {
    let mut cur = body;
    let mut sch = synth.resolve(schema).clone();
    let parts: Vec<&str> = path.split('.').collect();
    for (n, part) in parts.iter().enumerate() {
        let last = n == parts.len() - 1;
        let (name, index) = match part.strip_suffix("[0]") {
            Some(name) => (name, true),
            None => (*part, false),
        };
        let prop = sch["properties"][name].clone();
        if last {
            cur[name] = v;
            return;
        }
        if index {
            let items = synth.resolve(&synth.resolve(&prop)["items"]).clone();
            if !cur[name].is_array() || cur[name].as_array().unwrap().is_empty() {
                cur[name] = json!([synth.value(name, &items, 1)]);
            }
            cur = &mut cur[name][0];
            sch = items;
        } else {
            let inner = synth.resolve(&prop).clone();
            if !cur[name].is_object() {
                cur[name] = synth.value(name, &inner, 1);
            }
            cur = &mut cur[name];
            sch = inner;
        }
    }
}

/// What must be equal in two answers: status, code and the failing fields.
fn answer(r: &Resp) -> (u16, Value, Vec<String>) {
    (r.status.as_u16(), r.body["code"].clone(), r.error_fields())
}

async fn another_agents_ids_look_missing(app: TestApp) {
    let s = shared(&app).await;
    let (_, a) = objects(&app, &s, "anna").await;
    let (token_b, b) = objects(&app, &s, "bert").await;
    let spec: Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let missing: Objects = a.keys().map(|k| (*k, MISSING)).collect();
    let mut failures = vec![];
    let (mut path_checks, mut body_checks) = (0, 0);
    for (path, item) in spec["paths"].as_object().unwrap() {
        let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
        for (method, op) in item.as_object().unwrap() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let fill = |objs: &Objects, leaf_only: bool| fill_path(&segments, method, objs, &b, leaf_only, None);
            // JSON or merge-patch JSON (multipart uploads carry no ids).
            let schema = ["application/json", "application/merge-patch+json"]
                .iter()
                .map(|ct| op["requestBody"]["content"][ct]["schema"].clone())
                .find(|s| !s.is_null())
                .unwrap_or(Value::Null);
            let synth = Synth { schemas, mine: &b, shared: &s, path };
            let base_body = if schema.is_null() { None } else { Some(synth.value("body", &schema, 0)) };
            let send = |url: String, body: Option<Value>| {
                let (app, m, t) = (&app, m.clone(), token_b.clone());
                async move { app.call(m, &url, &t, body.or(Some(json!({}))), &[]).await }
            };
            // 1. Another agent's object in the path looks exactly like a missing one.
            if SCOPED.contains(&segments[0]) {
                for leaf_only in [false, true] {
                    let (Some(theirs), Some(none)) = (fill(&a, leaf_only), fill(&missing, leaf_only)) else { continue };
                    if leaf_only && !segments.iter().skip(2).any(|x| x.starts_with('{')) {
                        continue;
                    }
                    let (x, y) = (send(theirs.clone(), base_body.clone()).await, send(none, base_body.clone()).await);
                    path_checks += 1;
                    if std::env::var("ORDO_SCOPE_TRACE").is_ok() {
                        eprintln!("path {method} {theirs}: {:?}", answer(&x));
                    }
                    if answer(&x) != answer(&y) || x.status.is_success() || x.status.is_server_error() {
                        failures.push(format!(
                            "{method} {theirs}: theirs {:?} {} / missing {:?}",
                            answer(&x),
                            x.body,
                            answer(&y)
                        ));
                    }
                }
            }
            // 2. Another agent's object in a body field looks exactly like a missing one.
            if schema.is_null() {
                continue;
            }
            let mut fields = vec![];
            id_fields(&synth, &schema, "", 0, &mut fields);
            for (field, _) in fields {
                let Some(kind) = field_kind(path, &field) else { continue };
                // The path names B's own objects, so only the body field differs.
                let own_path = if path.contains('{') {
                    match fill(&b, false) {
                        Some(p) => p,
                        None => continue,
                    }
                } else {
                    path.clone()
                };
                let mut theirs = base_body.clone().unwrap_or(json!({}));
                set(&mut theirs, &field, json!(a[kind]), &synth, &schema);
                let mut none = base_body.clone().unwrap_or(json!({}));
                set(&mut none, &field, json!(MISSING), &synth, &schema);
                let (x, y) =
                    (send(own_path.clone(), Some(theirs.clone())).await, send(own_path.clone(), Some(none)).await);
                body_checks += 1;
                if std::env::var("ORDO_SCOPE_TRACE").is_ok() {
                    eprintln!("body {method} {own_path} {field}: {:?}", answer(&x));
                }
                let in_use = x.body["code"] == "in_use" || y.body["code"] == "in_use";
                if answer(&x) != answer(&y) || x.status.is_success() || x.status.is_server_error() || in_use {
                    failures.push(format!(
                        "{method} {own_path} with {field} = another agent's: {:?} {} / missing: {:?} {}",
                        answer(&x),
                        x.body,
                        answer(&y),
                        y.body
                    ));
                }
            }
        }
    }
    assert!(path_checks > 80 && body_checks > 20, "the spec was walked: {path_checks} path, {body_checks} body checks");
    assert!(failures.is_empty(), "{} scope leaks:\n{}", failures.len(), failures.join("\n"));
}

/// Every write operation of the document (POST, PUT, PATCH, DELETE), asked by a
/// `viewer` (read-only everywhere) with real objects in the path and a plausible body:
/// 403 `forbidden`, and nothing written. A new write route is covered without new test
/// code; one meant for every role goes into [`OPEN_TO_EVERY_ROLE`].
async fn roles_without_the_right_are_refused(app: TestApp) {
    let s = shared(&app).await;
    let (_, a) = objects(&app, &s, "anna").await;
    let (_, viewer) = app.user("vera", &["viewer"]).await;
    let spec: Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let audit_before = app.count("audit_log");
    let (mut checks, mut failures) = (0, vec![]);
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/auth/token" {
            continue;
        }
        let segments: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
        for (method, op) in item.as_object().unwrap() {
            if !matches!(method.as_str(), "post" | "put" | "patch" | "delete")
                || OPEN_TO_EVERY_ROLE.contains(&(method.as_str(), path.as_str()))
            {
                continue;
            }
            let url = if path.contains('{') {
                fill_path(&segments, method, &a, &a, false, Some(1)).unwrap()
            } else {
                path.clone()
            };
            let schema = ["application/json", "application/merge-patch+json"]
                .iter()
                .map(|ct| op["requestBody"]["content"][ct]["schema"].clone())
                .find(|s| !s.is_null())
                .unwrap_or(Value::Null);
            let synth = Synth { schemas, mine: &a, shared: &s, path };
            let body = if schema.is_null() { json!({}) } else { synth.value("body", &schema, 0) };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.call(m, &url, &viewer, Some(body), &[]).await;
            checks += 1;
            let refused = r.status == 403 && r.body["code"] == "forbidden";
            let ok = if DECIDED_BY_THE_STAGE_ROLE.contains(&path.as_str()) {
                r.status == 409 && r.body["code"] == "not_pending_approval"
            } else if BODY_NOT_SYNTHESIZED.contains(&path.as_str()) {
                matches!(r.status.as_u16(), 400 | 422)
            } else {
                refused
            };
            if !ok {
                failures.push(format!("{method} {url}: {} {}", r.status, r.body));
            }
        }
    }
    // Promising with `accept=true` writes the dates: a viewer may not.
    let order = a["order"];
    let r = app.post(&format!("/api/v1/sales-orders/{order}/promise?accept=true"), &viewer, json!({})).await;
    r.problem(403, "forbidden");
    assert!(checks > 150, "the spec was walked: {checks} write operations");
    assert_eq!(app.count("audit_log"), audit_before, "a refused request writes nothing");
    assert!(
        failures.is_empty(),
        "{} write operation(s) a viewer was not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
