//! The contract: the committed `openapi/openapi.json` is what the code generates,
//! and every operation is complete enough for SDK generators.

use std::collections::HashSet;

#[test]
fn committed_spec_matches_the_code() {
    let generated = ordo_api::openapi::spec_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    // `UPDATE_OPENAPI=1 cargo test --test api committed_spec` rewrites it without a
    // second build of the server binary (what `make openapi` does).
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, format!("{}\n", generated.trim_end())).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `make openapi` and commit the result"
    );
}

#[test]
fn every_operation_is_complete() {
    let spec: serde_json::Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["info"]["license"]["name"].is_string());
    let mut ids = HashSet::new();
    let public = ["/api/v1/auth/token", "/healthz", "/readyz"];
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let where_ = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{where_}: no operationId"));
            assert!(ids.insert(id.to_string()), "{where_}: duplicate operationId {id}");
            assert_eq!(op["tags"].as_array().map(|t| t.len()), Some(1), "{where_}: one tag");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|k| k.starts_with('2')), "{where_}: no success response");
            if !public.contains(&path.as_str()) {
                assert!(op["security"].as_array().is_some_and(|s| !s.is_empty()), "{where_}: no security");
                for status in ["400", "401", "403", "500"] {
                    assert!(responses.contains_key(status), "{where_}: no {status}");
                }
                if path.contains('{') {
                    assert!(responses.contains_key("404"), "{where_}: no 404");
                }
                if op.get("requestBody").is_some() {
                    assert!(responses.contains_key("422"), "{where_}: no 422");
                }
            }
        }
    }
    // Decimal strings carry a pattern so generators keep them as strings.
    let money = &spec["components"]["schemas"]["Money"];
    assert_eq!(money["type"], "string");
    assert!(money["pattern"].is_string());
}

/// Every `$ref` points at a schema the document defines (a type used only in query
/// parameters is not collected by utoipa unless inlined).
#[test]
fn every_reference_resolves() {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r.to_string());
                }
                o.values().for_each(|c| walk(c, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let spec: serde_json::Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    let mut refs = vec![];
    walk(&spec, &mut refs);
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let missing: Vec<&String> = refs
        .iter()
        .filter(|r| r.strip_prefix("#/components/schemas/").is_none_or(|name| !schemas.contains_key(name)))
        .collect();
    assert!(missing.is_empty(), "unresolved references: {missing:?}");
}
