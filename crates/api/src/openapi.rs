//! The OpenAPI document: collected from the handlers by utoipa-actix-web, then
//! completed by [`Conventions`] so that every operation documents the same
//! security, headers and error responses the code actually produces.

use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;

use crate::problem::Problem;
use crate::{auth, customers, items, pricing, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ordo",
        description = "Headless sales & order management: customers, items, pricing, quotations, orders, fulfillment and billing over REST/JSON.\n\nMoney and quantities are decimal strings; errors are `application/problem+json`; lists are cursor-paginated; writes honour `If-Match` and `Idempotency-Key`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        version = "1.0.0"
    ),
    components(schemas(Problem)),
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
        (name = "reports", description = "Pipeline, contact discipline and demand reports; the demand register for planning"),
        (name = "stock", description = "Warehouses, stock postings, balances, the ledger and reservations"),
        (name = "deliveries", description = "Deliveries of confirmed orders, delivery notes and returns"),
        (name = "health", description = "Liveness and readiness probes"),
    )
)]
pub struct ApiDoc;

/// All `/api/v1` routes, in one place.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(auth::issue_token)
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
    crate::fulfillment::routes(cfg);
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
                if !public {
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
                if !extra.is_empty() {
                    op.parameters.get_or_insert_with(Vec::new).extend(extra);
                }
                add_response(op, "500", "Unexpected server error");
            }
        }
    }
}

/// The complete document, exactly as served.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, spec) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(crate::healthz)
        .service(crate::readyz)
        .service(utoipa_actix_web::scope("/api/v1").configure(routes))
        .split_for_parts();
    let mut spec = spec;
    Conventions.modify(&mut spec);
    spec
}

pub fn spec_json() -> String {
    spec().to_pretty_json().unwrap_or_else(|_| "{}".into())
}
