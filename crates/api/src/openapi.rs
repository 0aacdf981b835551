//! The OpenAPI document: collected from the handlers by utoipa-actix-web, then
//! completed by [`Conventions`] so that every operation documents the same
//! security, headers and error responses the code actually produces.

use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::problem::Problem;
use crate::{auth, customers, items, pricing, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ordo",
        description = "Headless sales & order management: customers, items, pricing, quotations, orders, fulfillment and billing over REST/JSON.\n\nMoney and quantities are decimal strings; errors are `application/problem+json`; lists are cursor-paginated; writes honour `If-Match` and `Idempotency-Key`.\n\nEvery JSON answer carries an `ETag` naming its exact representation (`\"<version>-<digest>\"` for versioned resources, whose version part is what `If-Match` checks); a GET with a current `If-None-Match` is a 304; every GET route also answers `HEAD`; authenticated answers are `Cache-Control: private, no-cache` and `Vary: Authorization`.\n\nEvery list also answers `Accept: text/csv`: all its rows from the given cursor on (every page, streamed), with the filters and sort of the request; the columns are the properties of the list's item schema in order, nested objects as JSON text, text that a spreadsheet would run as a formula prefixed with `'`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        version = "1.0.0"
    ),
    components(schemas(
        Problem,
        crate::crud::IdSort,
        crate::crud::DocumentSort,
        crate::crud::BlanketSort,
        crate::billing::PaymentSort,
        crate::webhooks::WebhookDeliveryStatus,
        crate::crud::DeliverySort,
        crate::crud::CustomerSort,
        crate::crud::ItemSort,
        crate::crud::LeadSort,
        crate::crud::OpportunitySort,
        crate::service::TicketSort,
        ordo_service::reports::ServiceGroup,
        ordo_sales_docs::targets::AttainmentGroup,
        ordo_sales_docs::analytics::SalesBasis,
        ordo_sales_docs::analytics::SalesCompare,
        ordo_sales_docs::analytics::SalesSort,
        ordo_core::expand::Expand,
        ordo_core::expand::CustomerExpand
    )),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Tokens and the current caller"),
        (name = "users", description = "Users and API clients (admin)"),
        (name = "customers", description = "Customers and their contacts"),
        (name = "items", description = "Items and item groups"),
        (name = "pricing", description = "Currencies, exchange rates, taxes, price lists, special prices, discounts and the price engine"),
        (name = "sales-team", description = "Territories, customer groups, sales persons, sales partners and campaigns"),
        (name = "pipeline", description = "Leads, pipeline stages and opportunities"),
        (name = "sales-setup", description = "Approval routes, quality checklist templates and document number series"),
        (name = "quotations", description = "Quotations: lines priced by the engine, revisions, acceptance and conversion"),
        (name = "sales-orders", description = "Sales orders: approval routes, checklists, confirmation, journal and lifecycle"),
        (name = "blanket-orders", description = "Blanket orders: agreed quantities or value over a period, delivery schedules and call-offs"),
        (name = "activities", description = "Calls, meetings, emails, tasks and notes; the iCalendar feed"),
        (name = "imports", description = "Bulk import of customers, contacts, items, prices, price-list adjustments and opening stock from CSV or JSON Lines"),
        (name = "search", description = "One search box over customers, contacts, items, leads, opportunities and documents"),
        (name = "reports", description = "Pipeline, contact discipline and demand reports; the demand register for planning"),
        (name = "stock", description = "Warehouses, stock postings, balances, the ledger and reservations"),
        (name = "deliveries", description = "Deliveries of confirmed orders, delivery notes and returns"),
        (name = "invoices", description = "Invoices and credit notes: from orders, deliveries, returns, collective or direct; posting with gap-free legal numbers"),
        (name = "payments", description = "Received payments (cheques included), allocations to invoices, refunds"),
        (name = "receivables", description = "Customer statements, the aging report and credit control"),
        (name = "commissions", description = "Commission plans of sales persons and partners, what they earned per month, statements"),
        (name = "jobs", description = "Background jobs every Ordo process runs through one leased table (admin)"),
        (name = "documents", description = "Printable documents from editable templates (HTML)"),
        (name = "webhooks", description = "Business events: the feed (`GET /events`) and signed webhook deliveries (Standard Webhooks)"),
        (name = "service", description = "Service tickets and complaints: stages, comments, SLA clocks in business hours, escalations, returns"),
        (name = "service-setup", description = "The service desk's stages, business hours and priority matrix; ticket categories, service teams, SLA policies and queue scoring"),
        (name = "health", description = "Liveness and readiness probes"),
    )
)]
pub struct ApiDoc;

/// All `/api/v1` routes, in one place.
pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(auth::issue_token)
        .service(auth::logout)
        .service(auth::me)
        .service(users::create_user)
        .service(users::list_users)
        .service(users::get_user)
        .service(users::update_user)
        .service(users::user_history)
        .service(users::create_api_client)
        .service(users::list_api_clients)
        .service(users::get_api_client)
        .service(users::revoke_api_client)
        .service(customers::create_customer)
        .service(customers::list_customers)
        .service(customers::get_customer)
        .service(customers::update_customer)
        .service(customers::delete_customer)
        .service(customers::customer_history)
        .service(customers::list_contacts)
        .service(customers::create_contact)
        .service(customers::get_contact)
        .service(customers::update_contact)
        .service(customers::delete_contact)
        .service(items::create_item)
        .service(items::list_items)
        .service(items::get_item)
        .service(items::update_item)
        .service(items::delete_item)
        .service(items::item_history)
        .service(items::create_item_group)
        .service(items::list_item_groups)
        .service(items::get_item_group)
        .service(items::update_item_group)
        .service(items::delete_item_group)
        .service(items::item_group_history);
    items::unit_routes(cfg);
    crate::attachments::routes(cfg);
    pricing::routes(cfg);
    crate::team::routes(cfg);
    crate::pipeline::routes(cfg);
    crate::sales::routes(cfg);
    crate::activities::routes(cfg);
    crate::reports::routes(cfg);
    crate::reports::analytics_routes(cfg);
    crate::search::routes(cfg);
    crate::imports::routes(cfg);
    crate::fulfillment::routes(cfg);
    crate::billing::routes(cfg);
    crate::jobs::routes(cfg);
    crate::webhooks::routes(cfg);
    crate::documents::routes(cfg);
    crate::mail::routes(cfg);
    crate::company::routes(cfg);
    crate::service::routes(cfg);
}

struct Conventions;

/// Replaces closed `$ref`s inside every `allOf` below `v` (generic pages inline their
/// item schema, so the `allOf` may sit deep inside another schema).
fn open_all_of(
    v: &mut serde_json::Value,
    closed: &std::collections::HashMap<String, serde_json::Value>,
    changed: &mut bool,
) {
    match v {
        serde_json::Value::Object(o) => {
            if let Some(serde_json::Value::Array(parts)) = o.get_mut("allOf") {
                for part in parts.iter_mut() {
                    if let Some(open) = part.get("$ref").and_then(|r| r.as_str()).and_then(|r| closed.get(r)) {
                        *part = open.clone();
                        *changed = true;
                    }
                }
            }
            for child in o.values_mut() {
                open_all_of(child, closed, changed);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|c| open_all_of(c, closed, changed)),
        _ => {}
    }
}

/// A read model flattens its create shape (`allOf: [$ref Create, {id, version, ...}]`),
/// but create shapes are closed (`additionalProperties: false`, they reject unknown
/// fields), which would make the combination unsatisfiable. Inside such an `allOf` the
/// reference is replaced by an open copy; request bodies keep the closed original.
fn open_flattened_inputs(components: &mut utoipa::openapi::Components) {
    let Ok(serde_json::Value::Object(mut schemas)) = serde_json::to_value(&components.schemas) else { return };
    let closed: std::collections::HashMap<String, serde_json::Value> = schemas
        .iter()
        .filter(|(_, s)| s.get("additionalProperties") == Some(&serde_json::Value::Bool(false)))
        .map(|(k, s)| {
            let mut open = s.clone();
            open.as_object_mut().map(|o| o.remove("additionalProperties"));
            (format!("#/components/schemas/{k}"), open)
        })
        .collect();
    let mut changed = false;
    for schema in schemas.values_mut() {
        open_all_of(schema, &closed, &mut changed);
    }
    if changed {
        if let Ok(s) = serde_json::from_value(serde_json::Value::Object(schemas)) {
            components.schemas = s;
        }
    }
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            crate::problem::CONTENT_TYPE,
            ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build(),
        )
        .build()
        .into()
}

/// A problem answer that names response headers (`Retry-After`, `RateLimit-*`).
fn add_response_with_headers(op: &mut Operation, status: &str, description: &str, headers: &[(&str, &str)]) {
    op.responses.responses.entry(status.to_string()).or_insert_with(|| {
        let mut b = ResponseBuilder::new().description(description).content(
            crate::problem::CONTENT_TYPE,
            ContentBuilder::new().schema(Some(RefOr::Ref(Ref::from_schema_name("Problem")))).build(),
        );
        for (name, what) in headers {
            b = b.header(
                *name,
                utoipa::openapi::header::HeaderBuilder::new()
                    .schema(
                        utoipa::openapi::schema::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::Integer),
                    )
                    .description(Some(*what))
                    .build(),
            );
        }
        b.build().into()
    });
}

const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait before sending the request again");
const RATE_LIMIT_HEADERS: [(&str, &str); 4] = [
    RETRY_AFTER,
    ("RateLimit-Limit", "Requests allowed a minute (also on successful answers)"),
    ("RateLimit-Remaining", "Requests left in the current burst (also on successful answers)"),
    ("RateLimit-Reset", "Seconds until the whole burst is available again (also on successful answers)"),
];

fn add_response(op: &mut Operation, status: &str, description: &str) {
    op.responses.responses.entry(status.to_string()).or_insert_with(|| problem_response(description));
}

fn header_param(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(utoipa::openapi::schema::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)))
        .build()
}

impl Modify for Conventions {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        open_flattened_inputs(components);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([
                Flow::Password(Password::new("/api/v1/auth/token", Scopes::new())),
                Flow::ClientCredentials(ClientCredentials::new("/api/v1/auth/token", Scopes::new())),
            ])),
        );
        for (path, item) in api.paths.paths.iter_mut() {
            let has_id = path.contains('{');
            let public = matches!(path.as_str(), "/api/v1/auth/token" | "/healthz" | "/readyz");
            for (method, op) in [
                (HttpMethod::Get, item.get.as_mut()),
                (HttpMethod::Post, item.post.as_mut()),
                (HttpMethod::Patch, item.patch.as_mut()),
                (HttpMethod::Put, item.put.as_mut()),
                (HttpMethod::Delete, item.delete.as_mut()),
            ] {
                let Some(op) = op else { continue };
                if path != "/healthz" {
                    add_response_with_headers(
                        op,
                        "503",
                        "This process is starting (`starting`: migrating its database) or shutting down (`shutting_down`): send the request again after `Retry-After`, to this or another process",
                        &[RETRY_AFTER],
                    );
                }
                if path == "/api/v1/auth/token" {
                    add_response_with_headers(
                        op,
                        "429",
                        "Too many token requests from this address (`rate_limited`), or too many wrong passwords for this user (`login_locked`)",
                        &RATE_LIMIT_HEADERS,
                    );
                }
                if !public {
                    add_response_with_headers(
                        op,
                        "429",
                        "Too many requests by this caller or from this address (`rate_limited`)",
                        &RATE_LIMIT_HEADERS,
                    );
                    op.security = Some(vec![
                        SecurityRequirement::new("bearerAuth", Vec::<String>::new()),
                        SecurityRequirement::new("oauth2", Vec::<String>::new()),
                    ]);
                    add_response(op, "401", "Missing, invalid or expired token");
                    add_response(op, "403", "Your role does not allow this");
                    if has_id {
                        add_response(op, "404", "Not found, or not visible to you");
                    }
                    add_response(op, "400", "Malformed request: bad JSON, path or query parameter");
                }
                let printable =
                    ["/document", "/ubl", "/statement", "/dunning-letter"].iter().any(|p| path.ends_with(p));
                if printable {
                    add_response(op, "406", "Not acceptable: ask for one of the documented content types");
                }
                if printable {
                    add_response(
                        op,
                        "422",
                        "The document cannot be produced: its template fails (`template_error`) or, for an e-invoice, the records lack what it needs (`e_invoice_incomplete`, naming each)",
                    );
                }
                let has_query =
                    op.parameters.as_ref().is_some_and(|ps| ps.iter().any(|p| p.parameter_in == ParameterIn::Query));
                if has_query && !public {
                    add_response(
                        op,
                        "422",
                        "A query parameter is out of range (e.g. `limit`) or the cursor is invalid",
                    );
                }
                if op.request_body.is_some() && !public {
                    add_response(op, "404", "An id in the path or the body does not exist or is not visible to you");
                    add_response(op, "413", "Request body too large");
                    add_response(op, "415", "Unsupported content type");
                    add_response(op, "422", "Validation failed; `errors` lists every failing field");
                }
                let mut extra = vec![];
                if !public && method == HttpMethod::Post {
                    extra.push(header_param(
                        "Idempotency-Key",
                        "Makes the POST safe to retry: a replay with the same key and body returns the first response (with `Idempotent-Replayed: true`); a concurrent duplicate waits for the first and gets its response. A request that failed or never finished (a dropped connection, a server crash) stored nothing: its retry runs at once.",
                    ));
                    add_response(
                        op,
                        "409",
                        "Conflict: a duplicate, a state that forbids this, or a concurrent request changed the same records (`concurrent_update`: nothing was written, send it again)",
                    );
                    add_response(op, "422", "Validation failed, a business rule refused it, or the Idempotency-Key was used with another body");
                }
                if !public && matches!(method, HttpMethod::Patch | HttpMethod::Delete) {
                    add_response(
                        op,
                        "409",
                        "Conflict: the resource is archived (read-only) or still in use, or a unique value is taken",
                    );
                }
                if !public && has_id && matches!(method, HttpMethod::Patch | HttpMethod::Delete | HttpMethod::Post) {
                    extra.push(header_param(
                        "If-Match",
                        "The ETag you last read; the write is refused with 412 if the resource changed since.",
                    ));
                    add_response(op, "412", "The resource changed since you read it (If-Match)");
                }
                if !public && method == HttpMethod::Get {
                    extra.push(header_param(
                        "If-None-Match",
                        "The ETag of the representation you have: 304 without a body when it is still current.",
                    ));
                    op.responses.responses.entry("304".to_string()).or_insert_with(|| {
                        ResponseBuilder::new()
                            .description("Not modified: the ETag you sent is still current")
                            .build()
                            .into()
                    });
                }
                if !extra.is_empty() {
                    op.parameters.get_or_insert_with(Vec::new).extend(extra);
                }
                add_response(op, "500", "Unexpected server error");
            }
        }
    }
}

/// OpenAPI links from each create (`POST /{collection}` answering 201) to every
/// operation on the created resource (`/{collection}/{id}` and below, `id` its only
/// parameter): generated clients and schemathesis's stateful phase follow them to
/// chain real sequences (create, read, change, act, delete) with the new id. Written
/// into the JSON: utoipa's `Link` serializes `operationId` as `operation_id`.
fn add_links(v: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let Some(paths) = v["paths"].as_object_mut() else { return };
    let mut targets: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (path, item) in paths.iter() {
        let Some(rest) = path.strip_prefix("/api/v1/") else { continue };
        let mut segs = rest.split('/');
        let (Some(collection), Some("{id}")) = (segs.next(), segs.next()) else { continue };
        if segs.any(|s| s.starts_with('{')) {
            continue;
        }
        let ids = item.as_object().into_iter().flat_map(|ops| ops.values()).filter_map(|op| op["operationId"].as_str());
        targets.entry(format!("/api/v1/{collection}")).or_default().extend(ids.map(str::to_string));
    }
    for (path, item) in paths.iter_mut() {
        let Some(targets) = targets.get(path) else { continue };
        let Some(created) = item.pointer_mut("/post/responses/201") else { continue };
        let links: serde_json::Map<String, Value> = targets
            .iter()
            .map(|t| {
                (t.clone(), json!({"operationId": t, "parameters": {"id": "$response.body#/id"}, "description": "The created resource"}))
            })
            .collect();
        created["links"] = Value::Object(links);
    }
}

/// The committed document (`openapi/openapi.json`), served as it is: the `openapi`
/// test keeps it equal to [`spec_json`].
pub const COMMITTED: &str = include_str!("../../../openapi/openapi.json");

/// The document as utoipa builds it (the route table comes from here); what is served
/// and committed is [`spec_json`].
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut spec = ApiDoc::openapi();
    let mut table = crate::routing::Routes::documenting("/api/v1");
    routes(&mut table);
    let mut health = crate::routing::Routes::documenting("");
    health.service(crate::healthz).service(crate::readyz);
    for collected in [health, table].into_iter().filter_map(crate::routing::Routes::into_collected) {
        spec.paths.merge(collected.paths);
        spec.components.get_or_insert_with(Default::default).schemas.extend(collected.schemas);
    }
    Conventions.modify(&mut spec);
    spec
}

/// The document as served and committed: [`spec`] plus the finishing touches that are
/// easier on JSON than on utoipa's types (see [`finish`]).
pub fn spec_json() -> String {
    let mut v = serde_json::to_value(spec()).unwrap_or_default();
    finish(&mut v);
    add_links(&mut v);
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into())
}

/// What SDK generators need beyond what utoipa emits:
/// - pages reference their item schema instead of copying it (a copy becomes a second
///   class, `PageCustomerDataItem` next to `Customer`);
/// - tagged unions (`kind`) get a `discriminator` with a mapping, their variants named
///   schemas (`PriceSourceCustomerPrice`, ...);
/// - file downloads are `format: binary` strings, not arrays of integers;
/// - a `servers` entry, and a description on every operation;
/// - no schema that nothing references.
pub fn finish(v: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let mut schemas = v["components"]["schemas"].take();
    let Some(map) = schemas.as_object_mut() else { return };
    // Pages.
    let pages: Vec<String> = map.keys().filter(|k| k.starts_with("Page_")).cloned().collect();
    for page in pages {
        let item_name = page.trim_start_matches("Page_").to_string();
        let items = map[&page]["properties"]["data"]["items"].take();
        if items.get("$ref").is_none() && !map.contains_key(&item_name) {
            map.insert(item_name.clone(), items);
        }
        map[&page]["properties"]["data"]["items"] = json!({"$ref": format!("#/components/schemas/{item_name}")});
    }
    // Tagged unions.
    let unions: Vec<String> = map
        .iter()
        .filter(|(_, s)| {
            s["oneOf"].as_array().is_some_and(|alts| {
                !alts.is_empty()
                    && alts.iter().all(|a| a["properties"]["kind"]["enum"].as_array().is_some_and(|e| e.len() == 1))
            })
        })
        .map(|(k, _)| k.clone())
        .collect();
    for name in unions {
        let alts = map[&name]["oneOf"].as_array().cloned().unwrap_or_default();
        let mut refs = vec![];
        let mut mapping = serde_json::Map::new();
        for alt in alts {
            let kind = alt["properties"]["kind"]["enum"][0].as_str().unwrap_or_default().to_string();
            let pascal: String = kind
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
                })
                .collect();
            let variant = format!("{name}{pascal}");
            let target = format!("#/components/schemas/{variant}");
            map.insert(variant, alt);
            refs.push(json!({"$ref": target}));
            mapping.insert(kind, Value::String(target));
        }
        map[&name]["oneOf"] = Value::Array(refs);
        map[&name]["discriminator"] = json!({"propertyName": "kind", "mapping": mapping});
    }
    v["components"]["schemas"] = schemas;
    typed_patches(v);
    open_free_form_objects(v);
    // Binary downloads and operation descriptions.
    if let Some(paths) = v["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                if let Some(content) = op.pointer_mut("/requestBody/content").and_then(|c| c.as_object_mut()) {
                    for c in content.values_mut() {
                        let s = &c["schema"];
                        if s["type"] == "array" && s["items"]["type"] == "integer" {
                            c["schema"] = json!({"type": "string", "format": "binary"});
                        }
                    }
                }
                if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                    for r in responses.values_mut() {
                        if let Some(content) = r.get_mut("content").and_then(|c| c.as_object_mut()) {
                            for c in content.values_mut() {
                                let s = &c["schema"];
                                if s["type"] == "array" && s["items"]["type"] == "integer" {
                                    c["schema"] = json!({"type": "string", "format": "binary"});
                                }
                            }
                        }
                    }
                }
                let paged = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|r| r.contains("/Page_"));
                if paged && method == "get" {
                    op["responses"]["200"]["content"]["text/csv"] = json!({"schema": {"type": "string",
                        "description": "With `Accept: text/csv`: every row from the cursor on (all pages), one line each; columns are the item schema's properties"}});
                }
                if op.get("description").is_none() {
                    let summary = op["summary"].as_str().unwrap_or_default().to_string();
                    op["description"] = Value::String(describe(method, path, paged, &summary));
                }
            }
        }
    }
    v["servers"] = json!([{"url": "http://127.0.0.1:8080", "description": "`make run` on this machine; use your own"}]);
    drop_unused_schemas(v);
}

/// A merge-patch body is typed as what it may contain: the create shape of the same
/// resource (the POST on the parent path) with every field optional, `null` allowed
/// where the create shape does not require the field (null clears it), and unknown
/// fields refused — exactly what the server accepts. Documents' headers leave out
/// `lines` (they change through their own endpoints).
fn typed_patches(v: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let mut jobs: Vec<(String, String)> = vec![];
    if let Some(paths) = v["paths"].as_object() {
        for (path, item) in paths {
            let body = &item["patch"]["requestBody"]["content"]["application/merge-patch+json"]["schema"]["$ref"];
            if body.as_str() != Some("#/components/schemas/MergePatch") {
                continue;
            }
            let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
            // A singleton (`/company`) has no collection to create in: its PATCH stays untyped.
            let Some(collection) = paths.get(parent) else { continue };
            let create = collection["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str();
            if let Some(name) = create.and_then(|c| c.strip_prefix("#/components/schemas/")) {
                jobs.push((path.clone(), name.to_string()));
            }
        }
    }
    for (path, create) in jobs {
        let base = create.strip_suffix("Create").unwrap_or(if create == "LineInput" { "Line" } else { &create });
        let patch_name = format!("{base}Patch");
        if v["components"]["schemas"].get(&patch_name).is_none() {
            let c = v["components"]["schemas"][&create].clone();
            let required: Vec<&str> =
                c["required"].as_array().map(|r| r.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
            let mut props = serde_json::Map::new();
            for (name, p) in c["properties"].as_object().cloned().unwrap_or_default() {
                if name == "lines" {
                    continue;
                }
                let nullable = !required.contains(&name.as_str());
                props.insert(name, if nullable { nullable_schema(p) } else { p });
            }
            let description = format!(
                "Merge-patch of {}: give only what changes; `null` clears a field that may be empty.",
                if create == "LineInput" { "a document line".to_string() } else { format!("`{create}`") }
            );
            v["components"]["schemas"][&patch_name] = json!({
                "type": "object",
                "description": description,
                "properties": Value::Object(props),
                "additionalProperties": false,
            });
        }
        v["paths"][&path]["patch"]["requestBody"]["content"]["application/merge-patch+json"]["schema"] =
            json!({"$ref": format!("#/components/schemas/{patch_name}")});
    }
}

/// `p`, also accepting `null`.
fn nullable_schema(p: serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    match p.get("type") {
        Some(Value::String(t)) if t != "null" => {
            let mut p = p.clone();
            p["type"] = json!([t, "null"]);
            p
        }
        Some(Value::Array(ts)) if ts.iter().any(|t| t == "null") => p,
        Some(Value::Array(ts)) => {
            let mut ts = ts.clone();
            ts.push(json!("null"));
            let mut p = p.clone();
            p["type"] = Value::Array(ts);
            p
        }
        _ if p.get("oneOf").is_some_and(|o| o.as_array().is_some_and(|a| a.iter().any(|x| x["type"] == "null"))) => p,
        _ => json!({"oneOf": [p, {"type": "null"}]}),
    }
}

/// Free-form objects (attributes, explanations) say so: `additionalProperties: true`,
/// or generators type them as empty records.
fn open_free_form_objects(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            let is_object = match o.get("type") {
                Some(serde_json::Value::String(t)) => t == "object",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            if is_object && !o.contains_key("properties") && !o.contains_key("additionalProperties") {
                o.insert("additionalProperties".into(), serde_json::Value::Bool(true));
            }
            o.values_mut().for_each(open_free_form_objects);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(open_free_form_objects),
        _ => {}
    }
}

/// The conventions an operation follows, for operations whose doc comment is one line.
fn describe(method: &str, path: &str, paged: bool, summary: &str) -> String {
    let rule = match method {
        "get" if path.ends_with("/history") => {
            "Oldest first, cursor-paginated: pass `next_cursor` back as `cursor`. Each entry says who changed what and when."
        }
        "get" if paged => {
            "Cursor-paginated: pass `next_cursor` back as `cursor` until it is null. Filters are query parameters; unknown ones are a 400."
        }
        "get" if path.ends_with('}') => "The answer carries `ETag` (the version) for `If-Match` on later writes.",
        "get" => "Unknown query parameters are a 400.",
        "post" => "Accepts `Idempotency-Key`; writes nothing when it answers with an error.",
        "patch" => "JSON merge-patch: absent fields stay, `null` clears an optional field. Honours `If-Match` (412 when the resource changed).",
        "delete" => "Honours `If-Match` (412 when the resource changed).",
        _ => "",
    };
    let summary = summary.trim_end_matches('.');
    if summary.is_empty() {
        rule.to_string()
    } else {
        format!("{summary}. {rule}")
    }
}

/// Removes schemas nothing references (transitively from paths), so generators
/// create no orphan classes.
fn drop_unused_schemas(v: &mut serde_json::Value) {
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(|r| r.as_str()) {
                    if let Some(name) = r.strip_prefix("#/components/schemas/") {
                        out.push(name.to_string());
                    }
                }
                o.values().for_each(|c| refs(c, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
            _ => {}
        }
    }
    let mut used = std::collections::BTreeSet::new();
    let mut todo = vec![];
    refs(&v["paths"], &mut todo);
    // Problem is the answer of every error; keep it even if a document had none.
    todo.push("Problem".to_string());
    while let Some(name) = todo.pop() {
        if used.insert(name.clone()) {
            refs(&v["components"]["schemas"][&name], &mut todo);
        }
    }
    if let Some(map) = v["components"]["schemas"].as_object_mut() {
        map.retain(|k, _| used.contains(k));
    }
}
