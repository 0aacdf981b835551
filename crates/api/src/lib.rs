//! ordo-api: the actix-web application — routes, auth, problem+json, OpenAPI.

pub mod activities;
pub mod attachments;
pub mod auth;
pub mod billing;
pub mod common;
pub mod company;
pub mod crud;
pub mod csv;
pub mod customers;
pub mod demo;
pub mod demo_sales;
pub mod demo_service;
pub mod documents;
pub mod extract;
pub mod fulfillment;
pub mod imports;
pub mod items;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod oidc;
pub mod openapi;
pub mod pipeline;
pub mod pricing;
pub mod problem;
pub mod reports;
pub mod routing;
pub mod sales;
pub mod search;
pub mod service;
pub mod team;
pub mod users;
pub mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{get, web, HttpMessage, HttpRequest, HttpResponse};
use ordo_db::{Db, Stats};
use std::sync::Arc;
use tracing::Instrument;

use crate::extract::RequestMeta;
use crate::problem::Problem;

/// Server settings that handlers need.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub jwt_secret: Vec<u8>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: i64,
    /// Lifetime of a refresh token (rotated on every use).
    pub refresh_token_ttl: i64,
    /// Browser origins allowed to call the API (CORS); empty: none.
    pub cors_origins: Vec<String>,
    pub debug_headers: bool,
    /// Company base currency: totals are also shown in it.
    pub base_currency: ordo_core::Currency,
    /// Where attachment files live (named by sha256, never by the client).
    pub attachments_dir: std::path::PathBuf,
    pub attachment_max_bytes: usize,
    pub webhooks: webhooks::WebhookConfig,
    /// Outgoing mail (`ORDO_SMTP_*`); none: documents cannot be mailed.
    pub smtp: Option<mail::SmtpConfig>,
    /// Rate limits, login lockout, token revocation.
    pub security: limits::SecurityConfig,
    /// An external identity provider whose tokens Ordo accepts (`ORDO_OIDC_*`).
    pub oidc: Option<oidc::OidcConfig>,
}

pub struct AppState {
    pub db: Db,
    pub jwt: auth::Jwt,
    pub config: ApiConfig,
    /// Route table (from the OpenAPI document) for 405 answers.
    routes: Arc<Vec<(Vec<String>, Vec<&'static str>)>>,
    /// The served OpenAPI document, built once per process (not once per worker).
    spec_json: Arc<str>,
    /// CSV columns of every paged list, by path template (from the document).
    csv_columns: Arc<std::collections::HashMap<String, Vec<String>>>,
    /// The document's schemas (they type the cells of imported CSV files).
    schemas: Arc<serde_json::Value>,
    /// This app's import worker.
    pub imports: Arc<imports::Runtime>,
    pub limits: limits::Limits,
    pub oidc: Option<oidc::Oidc>,
    /// Set while the process migrates its database at start: requests get 503.
    pub starting: std::sync::atomic::AtomicBool,
    /// Set on SIGTERM: new requests get 503 while in-flight ones finish.
    pub draining: std::sync::atomic::AtomicBool,
}

impl AppState {
    pub fn new(db: Db, config: ApiConfig) -> AppState {
        let jwt = auth::Jwt::new(&config.jwt_secret, &config.jwt_issuer, &config.jwt_audience, config.access_token_ttl);
        // The committed document is what the code generates (the `openapi` test fails
        // on any drift), so the server serves it instead of building it: utoipa's
        // document and its JSON round trips cost ~65 MB of heap at start (issue 16).
        let spec_json: Arc<str> = openapi::COMMITTED.into();
        let doc: serde_json::Value = serde_json::from_str(&spec_json).unwrap_or_default();
        let routes = doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let segs = path.trim_matches('/').split('/').map(str::to_string).collect();
                        let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
                            .into_iter()
                            .filter(|m| item.get(m.to_ascii_lowercase()).is_some())
                            .collect();
                        (segs, methods)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let csv_columns = Arc::new(csv::columns_by_path(&doc));
        let mut schemas = doc["components"]["schemas"].clone();
        schemas["PriceAdjustmentRow"] =
            serde_json::to_value(<imports::PriceAdjustmentRow as utoipa::PartialSchema>::schema()).unwrap_or_default();
        AppState {
            db,
            jwt,
            routes: Arc::new(routes),
            spec_json,
            csv_columns,
            schemas: Arc::new(schemas),
            imports: Default::default(),
            limits: limits::Limits::new(&config.security),
            oidc: config.oidc.clone().map(oidc::Oidc::new),
            starting: Default::default(),
            draining: Default::default(),
            config,
        }
    }

    /// The OpenAPI document's component schemas.
    pub fn spec_schemas(&self) -> &serde_json::Value {
        &self.schemas
    }

    /// The CSV columns of the list at `path` (a route pattern).
    pub fn csv_columns(&self, path: &str) -> Option<Vec<String>> {
        self.csv_columns.get(path).cloned()
    }

    fn allowed_methods(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes
            .iter()
            .find(|(pattern, _)| {
                pattern.len() == segs.len()
                    && pattern.iter().zip(&segs).all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
            })
            .map(|(_, m)| m.join(", "))
    }
}

/// What every request passes before routing: a process that is starting (migrating)
/// or stopping answers 503 with `Retry-After` (a load balancer retries elsewhere;
/// `/healthz` still answers, the process is alive), and the per-IP limit applies.
async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use std::sync::atomic::Ordering;
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let refuse = |req: ServiceRequest, p: Problem| Ok(req.into_response(HttpResponse::from_error(p)));
    if req.path() != "/healthz" {
        let unavailable = if state.starting.load(Ordering::Relaxed) {
            Some(("starting", "this process is migrating its database and does not serve yet"))
        } else if state.draining.load(Ordering::Relaxed) {
            Some(("shutting_down", "this process is shutting down: send the request again (to another process)"))
        } else {
            None
        };
        if let Some((code, detail)) = unavailable {
            let mut p = Problem::new(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, code, detail);
            p.retry_after = Some(1);
            return refuse(req, p);
        }
        if let Err(p) = limits::enforce_ip(&req, &state.limits) {
            return refuse(req, p);
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Request id, statement counter and one log line per request.
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let stats = Stats::default();
    req.extensions_mut().insert(RequestMeta { request_id: request_id.clone(), stats: stats.clone() });
    let debug = req.app_data::<web::Data<AppState>>().map(|s| s.config.debug_headers).unwrap_or(false);
    let span = tracing::info_span!("request", request_id = %request_id);
    let (method, path) = (req.method().to_string(), req.path().to_string());
    let started = std::time::Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    span.in_scope(|| {
        tracing::info!(%method, %path, status, ms = started.elapsed().as_millis() as u64, statements = stats.statements(), "request")
    });
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    if debug {
        h.insert(HeaderName::from_static("x-ordo-db-statements"), HeaderValue::from(stats.statements()));
    }
    Ok(res)
}

/// Conditional requests and caching, for every JSON answer of the API:
/// - `ETag` names the exact representation: `"<version>-<digest>"` for a versioned
///   resource (the version is what `If-Match` checks; the digest changes whenever the
///   body does, e.g. with `?include=` or a quotation that has expired), `"<digest>"`
///   for lists and other reads;
/// - a GET whose `If-None-Match` names the current tag is a 304 without a body;
/// - `HEAD` is answered for every GET route, with the headers a GET would have;
/// - authenticated answers are `Cache-Control: private, no-cache` and vary by
///   `Authorization`: a shared cache never serves one caller's data to another.
async fn http_caching(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::{header, Method, StatusCode};
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let get = req.method() == Method::GET;
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let api = req.path().starts_with("/api/v1/");
    let res = next.call(req).await?.map_into_boxed_body();
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let tagged = res.headers().contains_key(header::ETAG);
    if !api || !json || !(res.status() == StatusCode::OK || res.status() == StatusCode::CREATED) || (!get && !tagged) {
        return Ok(if head { res.map_body(|_, _| actix_web::body::BoxBody::new(())) } else { res });
    }
    let (request, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let bytes =
        actix_web::body::to_bytes(body).await.map_err(|_| actix_web::error::ErrorInternalServerError("body"))?;
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&bytes)[..8].iter().map(|b| format!("{b:02x}")).collect();
    let version = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').split('-').next().unwrap_or("").to_string());
    let etag = match version {
        Some(v) => format!("\"{v}-{digest}\""),
        None => format!("\"{digest}\""),
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Authorization"));
    let not_modified = get
        && if_none_match.as_deref().is_some_and(|inm| {
            inm.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*")
        });
    let response = if not_modified {
        let mut r = HttpResponse::NotModified();
        for (k, v) in response.headers() {
            if matches!(*k, header::ETAG | header::CACHE_CONTROL | header::VARY) || k.as_str() == "x-ordo-db-statements"
            {
                r.insert_header((k.clone(), v.clone()));
            }
        }
        r.finish()
    } else if head {
        response.set_body(actix_web::body::BoxBody::new(()))
    } else {
        response.set_body(actix_web::body::BoxBody::new(bytes))
    };
    Ok(ServiceResponse::new(request, response))
}

/// Headers every answer carries, whatever produced it (a handler, an error, the docs):
/// no content sniffing, no referrer, never framed; and an answer that says nothing of
/// caching — an error, a token, a redirect — is `no-store`, so neither a shared cache
/// nor the browser keeps it (representations are `private, no-cache`, [`http_caching`]).
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header;
    let mut res = next.call(req).await?;
    let req = res.request().clone();
    let h = res.headers_mut();
    limits::headers(&req, h);
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    Ok(res)
}

/// CORS for the browser origins in `ORDO_CORS_ORIGINS` (exact matches): a preflight
/// from one of them is answered here (204 with the methods and headers the API uses);
/// answers to them name the origin and expose the headers clients read. Other origins
/// get nothing: a preflight is a 403, and answers carry no CORS headers, so the
/// browser keeps them from the page. Credentials (cookies) are never allowed: the API
/// uses bearer tokens.
async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::{header, Method};
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string);
    let allowed = origin.as_ref().is_some_and(|o| {
        req.app_data::<web::Data<AppState>>().is_some_and(|s| s.config.cors_origins.iter().any(|a| a == o))
    });
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = if allowed {
            HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone().unwrap_or_default()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, POST, PUT, PATCH, DELETE"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"))
                .finish()
        } else {
            HttpResponse::from_error(Problem::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "cors_origin_not_allowed",
                "this origin may not call the API from a browser (see ORDO_CORS_ORIGINS)",
            ))
        };
        return Ok(req.into_response(response));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    if allowed {
        let h = res.headers_mut();
        if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag, Location, X-Request-Id, Idempotent-Replayed, Retry-After, Allow"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

/// Unknown route → 404, known route with another method → 405, both problem+json.
async fn fallback(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    match state.allowed_methods(req.path()) {
        Some(allow) => {
            let mut p = Problem::new(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not allowed here; allowed: {allow}", req.method()),
            );
            p.allow = Some(allow);
            Err(p)
        }
        None => Err(Problem::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {} {}", req.method(), req.path()),
        )),
    }
}

/// Liveness: the process answers.
#[utoipa::path(tag = "health", operation_id = "healthz", security(()), responses((status = 200, description = "Alive")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(
    tag = "health",
    operation_id = "readyz",
    security(()),
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready: the database does not answer (`database_unavailable`), the process is migrating it (`starting`) or shutting down (`shutting_down`); `Retry-After` says when to ask again", body = Problem, content_type = "application/problem+json"))
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let db = state.db.clone();
    match web::block(move || db.ping()).await? {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(cause = %e, "readiness check failed");
            Err(Problem::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database does not answer",
            ))
        }
    }
}

async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(state.spec_json.to_string())
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().error_handler(|e, _| Problem::bad_request("malformed_json", e.to_string()).into())
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|e, _| Problem::bad_request("invalid_path", format!("invalid path parameter: {e}")).into())
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| Problem::bad_request("invalid_query", format!("invalid query string: {e}")).into())
}

/// What a database needs after its migrations besides the schema: the sales facts of
/// documents that existed before the facts did (once; nothing to do afterwards).
pub fn after_migrate(db: &ordo_db::Db) -> Result<usize, ordo_core::DomainError> {
    db.write(&ordo_db::Stats::default(), ordo_sales_docs::facts::backfill)
}

/// Registers the API (and docs) on an actix `App`; also used by `ordo openapi`.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state)
        .app_data(json_config())
        .app_data(path_config())
        .app_data(query_config())
        .app_data(web::PayloadConfig::new(1024 * 1024))
        .route("/api/v1/openapi.json", web::get().to(openapi_json))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect().insert_header((actix_web::http::header::LOCATION, "/docs/")).finish()
            }),
        )
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/api/v1/openapi.json", utoipa::openapi::OpenApi::default())
                .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json").persist_authorization(true)),
        );
}

/// Builds the application (once per worker). Routes come from the same list as the
/// OpenAPI document ([`openapi::routes`]), so the document cannot miss a handler; the
/// document itself is built once per process, in [`AppState`], not here.
pub fn app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .wrap(from_fn(http_caching))
        .wrap(from_fn(gate))
        .wrap(from_fn(cors))
        .wrap(from_fn(request_context))
        .wrap(from_fn(security_headers))
        .configure(|cfg| configure(cfg, state))
        .service(healthz)
        .service(readyz)
        .configure(|cfg| {
            let mut routes = routing::Routes::serving("/api/v1");
            openapi::routes(&mut routes);
            routes.register(cfg);
        })
        .default_service(web::to(fallback))
}
