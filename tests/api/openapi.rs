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
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{where_}: no summary");
            assert!(op["description"].as_str().is_some_and(|s| !s.is_empty()), "{where_}: no description");
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

/// Schema names that shadow a generator's own classes or a language's built-ins break
/// the generated SDKs (a `Promise` model does not compile in TypeScript; `ApiClient`
/// shadows the Python client's class; `Return` is a Python keyword).
#[test]
fn schema_names_are_safe_for_generators() {
    const RESERVED: &[&str] = &[
        // TypeScript / JavaScript built-ins
        "Array",
        "ArrayBuffer",
        "Blob",
        "Boolean",
        "Date",
        "Error",
        "File",
        "FormData",
        "Function",
        "Headers",
        "Map",
        "Number",
        "Object",
        "Promise",
        "Record",
        "Request",
        "RequestInit",
        "Response",
        "Set",
        "String",
        "Symbol",
        "URL",
        "Partial",
        "Required",
        "Readonly",
        "Pick",
        "Omit",
        // Generated-client classes (openapi-generator, openapi-python-client)
        "ApiClient",
        "ApiException",
        "ApiResponse",
        "AuthenticatedClient",
        "BaseAPI",
        "Client",
        "Configuration",
        "RESTClientObject",
        "RequiredError",
        "Unset",
        "UNSET",
        "Errors",
        "Types",
    ];
    const KEYWORDS: &[&str] = &[
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "class",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "except",
        "false",
        "finally",
        "for",
        "from",
        "global",
        "if",
        "import",
        "in",
        "is",
        "lambda",
        "none",
        "nonlocal",
        "not",
        "or",
        "pass",
        "raise",
        "return",
        "true",
        "try",
        "while",
        "with",
        "yield",
        "default",
        "delete",
        "enum",
        "export",
        "extends",
        "function",
        "interface",
        "let",
        "new",
        "null",
        "package",
        "private",
        "protected",
        "public",
        "static",
        "super",
        "switch",
        "this",
        "throw",
        "typeof",
        "var",
        "void",
    ];
    let spec: serde_json::Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    let bad: Vec<&String> = spec["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| RESERVED.contains(&k.as_str()) || KEYWORDS.contains(&k.to_lowercase().as_str()))
        .collect();
    assert!(bad.is_empty(), "schema names that generators reserve: {bad:?}");
}

/// What generators need to produce one class per concept with real types.
#[test]
fn schemas_are_typed_for_generators() {
    let spec: serde_json::Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    // Pages reference their item schema.
    for (name, s) in schemas.iter().filter(|(k, _)| k.starts_with("Page_")) {
        assert!(s["properties"]["data"]["items"]["$ref"].is_string(), "{name} copies its item schema");
    }
    // Tagged unions have a discriminator whose mapping names every variant.
    for name in ["PriceSource", "StageCondition"] {
        let d = &schemas[name]["discriminator"];
        assert_eq!(d["propertyName"], "kind", "{name}");
        assert_eq!(d["mapping"].as_object().unwrap().len(), schemas[name]["oneOf"].as_array().unwrap().len(), "{name}");
    }
    // No untyped merge-patch bodies, and free-form objects say they are free-form.
    let text = spec.to_string();
    assert!(!text.contains("#/components/schemas/MergePatch"), "a PATCH body without its fields");
    fn untyped(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                let object = o
                    .get("type")
                    .is_some_and(|t| t == "object" || t.as_array().is_some_and(|a| a.iter().any(|x| x == "object")));
                if object && !o.contains_key("properties") && !o.contains_key("additionalProperties") {
                    out.push(at.to_string());
                }
                for (k, c) in o {
                    untyped(c, &format!("{at}/{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                a.iter().enumerate().for_each(|(i, c)| untyped(c, &format!("{at}/{i}"), out))
            }
            _ => {}
        }
    }
    let mut out = vec![];
    untyped(&spec, "", &mut out);
    assert!(out.is_empty(), "objects with neither properties nor additionalProperties: {out:?}");
    // Typed PATCH bodies list the fields, all optional.
    let patch = &schemas["SalesOrderPatch"];
    assert!(patch["properties"]["contract_number"].is_object());
    assert!(patch["properties"].get("lines").is_none());
    assert!(patch.get("required").is_none());
    // Downloads are bytes; the token request is form-encoded with an enumerated grant.
    let download =
        &spec["paths"]["/api/v1/items/{id}/attachments/{attachment_id}"]["get"]["responses"]["200"]["content"];
    assert_eq!(download["application/octet-stream"]["schema"]["format"], "binary");
    assert_eq!(download["application/pdf"]["schema"]["format"], "binary");
    let token = &spec["paths"]["/api/v1/auth/token"]["post"]["requestBody"]["content"];
    assert_eq!(token.as_object().unwrap().len(), 1);
    assert!(token["application/x-www-form-urlencoded"].is_object());
    assert!(schemas["GrantType"]["enum"].is_array());
    assert!(spec["servers"][0]["url"].is_string());
}

/// Every schema is used by some operation (generators make a class of each).
#[test]
fn no_unused_schemas() {
    let spec: serde_json::Value = serde_json::from_str(&ordo_api::openapi::spec_json()).unwrap();
    let text = spec["paths"].to_string() + &spec["components"].to_string();
    for name in spec["components"]["schemas"].as_object().unwrap().keys() {
        assert!(text.contains(&format!("\"#/components/schemas/{name}\"")), "{name} is not used");
    }
}
