//! Extractors: the authenticated caller (with the database helpers every handler
//! uses), validated JSON bodies, strict query strings and `If-Match`.

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use ordo_core::{Caller, FieldError, Result as DResult};
use ordo_db::idempotency::{self, Claim, StoredResponse};
use ordo_db::{DbConnection, Stats};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};
use validator::Validate;

use crate::problem::Problem;
use crate::AppState;

/// Set by the request middleware: the request id and the statement counter.
#[derive(Clone, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub stats: Stats,
}

pub fn meta(req: &HttpRequest) -> RequestMeta {
    req.extensions().get::<RequestMeta>().cloned().unwrap_or_default()
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().cloned().expect("AppState registered")
}

/// Hash of method, path and body, for idempotency-key replay checks.
#[derive(Clone)]
struct BodyHash(String);

fn hash_request(req: &HttpRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update(b" ");
    h.update(req.path());
    h.update(b"\n");
    h.update(body);
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, h.finalize())
}

/// Records what identifies a non-JSON request body (e.g. an upload's hash) for
/// `Idempotency-Key` replay checks.
pub fn remember_body(req: &HttpRequest, body: &[u8]) {
    req.extensions_mut().insert(BodyHash(hash_request(req, body)));
}

/// The authenticated caller. Rejects with 401 before the handler runs.
pub struct Auth {
    pub caller: Caller,
    /// The token's generation (checked current, [`crate::auth::current`]).
    pub token_generation: i64,
    req: HttpRequest,
    state: web::Data<AppState>,
    meta: RequestMeta,
}

impl Auth {
    /// An `Auth` for a principal verified some other way (a calendar feed token).
    pub fn for_principal(req: &HttpRequest, principal: ordo_core::Principal, token_generation: i64) -> Auth {
        let meta = meta(req);
        Auth {
            caller: Caller { principal, request_id: Some(meta.request_id.clone()) },
            token_generation,
            req: req.clone(),
            state: state(req),
            meta,
        }
    }
}

impl FromRequest for Auth {
    type Error = Problem;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Auth, Problem>>;

    /// The token's signature and claims, then (usually from memory) that it is not
    /// revoked, then the caller's rate limit.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        // Ordo's own tokens (HS256) or, when configured, an identity provider's.
        enum Presented {
            Own(std::result::Result<(ordo_core::Principal, i64), Problem>),
            External(String, Box<jsonwebtoken::Header>),
        }
        let presented = match token {
            None => Presented::Own(Err(Problem::unauthorized(
                "an `Authorization: Bearer <token>` header is required; get a token from POST /api/v1/auth/token",
            ))),
            Some(t) => match jsonwebtoken::decode_header(t) {
                Ok(h)
                    if state.oidc.is_some()
                        && matches!(h.alg, jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::ES256) =>
                {
                    Presented::External(t.to_string(), Box::new(h))
                }
                _ => Presented::Own(state.jwt.verify(t)),
            },
        };
        let req = req.clone();
        Box::pin(async move {
            let meta = meta(&req);
            let (principal, generation) = match presented {
                Presented::Own(verified) => {
                    let (principal, generation) = verified?;
                    crate::auth::current(&state, &meta.stats, &principal, generation).await?;
                    (principal, generation)
                }
                Presented::External(token, header) => crate::oidc::verify(&state, &meta.stats, &token, &header).await?,
            };
            let key = format!("{}:{}", if principal.user_id().is_some() { "user" } else { "client" }, principal.id);
            crate::limits::enforce(&req, state.limits.api_per_principal.as_ref(), &key, "requests by this caller")?;
            Ok(Auth::for_principal(&req, principal, generation))
        })
    }
}

/// What a successful write answers besides its body.
pub struct ReplyMeta {
    pub location: Option<String>,
    pub version: Option<i64>,
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A JSON response with `ETag` when the resource has a version.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T, version: Option<i64>) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    if let Some(v) = version {
        b.insert_header((header::ETAG, etag(v)));
    }
    b.json(body)
}

fn stored_response(s: &StoredResponse, replayed: bool) -> HttpResponse {
    let mut b = HttpResponse::build(StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK));
    b.content_type("application/json");
    if let Some(l) = &s.location {
        b.insert_header((header::LOCATION, l.clone()));
    }
    if let Some(e) = &s.etag {
        b.insert_header((header::ETAG, e.clone()));
    }
    if replayed {
        b.insert_header(("Idempotent-Replayed", "true"));
    }
    b.body(s.body.clone())
}

impl Auth {
    pub fn db_state(&self) -> &AppState {
        &self.state
    }

    pub fn state_data(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Work on the writer that is always rolled back (a dry run).
    pub async fn dry_run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection, &Caller) -> DResult<T> + Send + 'static,
    ) -> Result<T, Problem> {
        let (db, stats, caller) = (self.state.db.clone(), self.meta.stats.clone(), self.caller.clone());
        self.block(move || db.dry_run(&stats, |c| f(c, &caller))).await
    }

    async fn block<T: Send + 'static>(&self, f: impl FnOnce() -> DResult<T> + Send + 'static) -> Result<T, Problem> {
        let span = tracing::Span::current();
        web::block(move || {
            let _g = span.enter();
            f()
        })
        .await?
        .map_err(Problem::from)
    }

    /// Read-only work on a reader connection.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection, &Caller) -> DResult<T> + Send + 'static,
    ) -> Result<T, Problem> {
        let (db, stats, caller) = (self.state.db.clone(), self.meta.stats.clone(), self.caller.clone());
        self.block(move || db.read(&stats, |c| f(c, &caller))).await
    }

    /// A paged list: the page as JSON, or with `Accept: text/csv` every page from the
    /// cursor on (200 rows per read), streamed as one CSV file. `f` reads one page.
    pub async fn list<T, F>(&self, page: ordo_core::PageRequest, f: F) -> Result<HttpResponse, Problem>
    where
        T: Serialize + Send + 'static,
        F: Fn(&mut DbConnection, &Caller, &ordo_core::PageRequest) -> DResult<ordo_core::Page<T>>
            + Send
            + Sync
            + 'static,
    {
        if !crate::csv::wanted(&self.req) {
            let p = self.read(move |c, caller| f(c, caller, &page)).await?;
            return Ok(HttpResponse::Ok().json(p));
        }
        let f = std::sync::Arc::new(f);
        let mut page = page;
        page.limit = ordo_core::page::MAX_LIMIT;
        page.include_total = false;
        // The first page before the answer starts: its errors are still a problem+json.
        let first = {
            let (f, page) = (f.clone(), page.clone());
            self.read(move |c, caller| f(c, caller, &page)).await?
        };
        let pattern = self.req.match_pattern().unwrap_or_default();
        // Shared, not copied, by the per-page encoder the stream clones.
        let cols = std::sync::Arc::new(self.state.csv_columns(&pattern).unwrap_or_default());
        let mut head = crate::csv::header_line(&cols);
        let encode = move |p: &ordo_core::Page<T>, out: &mut String| {
            let rows: Vec<serde_json::Value> =
                p.data.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
            crate::csv::rows(&cols, &rows, out);
        };
        encode(&first, &mut head);
        let (db, stats, caller) = (self.state.db.clone(), self.meta.stats.clone(), self.caller.clone());
        let rest = futures_util::stream::unfold(first.next_cursor, move |cursor| {
            let (f, db, stats, caller, encode, mut page) =
                (f.clone(), db.clone(), stats.clone(), caller.clone(), encode.clone(), page.clone());
            async move {
                let c = ordo_core::Cursor::decode(&cursor?).ok()?;
                (page.after_id, page.after_key) = (Some(c.after_id), c.after_key);
                let next = web::block(move || db.read(&stats, |conn| f(conn, &caller, &page))).await;
                match next {
                    Ok(Ok(p)) => {
                        let mut out = String::new();
                        encode(&p, &mut out);
                        Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), p.next_cursor))
                    }
                    // The status line is gone: a cut-off body is all that can say it.
                    _ => Some((Err(actix_web::error::ErrorInternalServerError("export interrupted")), None)),
                }
            }
        });
        let first = futures_util::stream::once(std::future::ready(Ok::<_, actix_web::Error>(web::Bytes::from(head))));
        let name = pattern.rsplit('/').find(|s| !s.starts_with('{')).unwrap_or("export").to_string();
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")))
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .insert_header((header::VARY, "Authorization, Accept"))
            .streaming(futures_util::StreamExt::chain(first, rest)))
    }

    /// A list that is always one page (`next_cursor` null), as JSON or CSV.
    pub async fn list_one<T, F>(&self, f: F) -> Result<HttpResponse, Problem>
    where
        T: Serialize + Send + 'static,
        F: Fn(&mut DbConnection, &Caller) -> DResult<Vec<T>> + Send + Sync + 'static,
    {
        let page = ordo_core::PageRequest::parse(None, None)?;
        self.list(page, move |c, caller, _| Ok(ordo_core::Page { data: f(c, caller)?, next_cursor: None, total: None }))
            .await
    }

    /// One transaction on the writer (PATCH, DELETE).
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection, &Caller) -> DResult<T> + Send + 'static,
    ) -> Result<T, Problem> {
        let (db, stats, caller) = (self.state.db.clone(), self.meta.stats.clone(), self.caller.clone());
        self.block(move || db.write(&stats, |c| f(c, &caller))).await
    }

    /// A POST: one transaction, honouring `Idempotency-Key` (the response is stored
    /// with the key in that same transaction; a replay returns it unchanged).
    pub async fn post<T: Serialize + Send + 'static>(
        &self,
        status: StatusCode,
        f: impl FnOnce(&mut DbConnection, &Caller) -> DResult<T> + Send + 'static,
        reply: impl FnOnce(&T) -> ReplyMeta + Send + 'static,
    ) -> Result<HttpResponse, Problem> {
        let key = match self.req.headers().get("Idempotency-Key") {
            None => None,
            Some(v) => match v.to_str() {
                Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
                    Some(k.to_string())
                }
                _ => {
                    return Err(Problem::bad_request(
                        "invalid_idempotency_key",
                        "Idempotency-Key must be 1-255 visible ASCII characters",
                    ))
                }
            },
        };
        let build = move |conn: &mut DbConnection, caller: &Caller| -> DResult<StoredResponse> {
            let value = f(conn, caller)?;
            let m = reply(&value);
            Ok(StoredResponse {
                status: status.as_u16(),
                body: serde_json::to_string(&value).map_err(|e| ordo_core::DomainError::Internal(e.to_string()))?,
                location: m.location,
                etag: m.version.map(etag),
            })
        };
        let (db, stats, caller) = (self.state.db.clone(), self.meta.stats.clone(), self.caller.clone());
        let Some(key) = key else {
            let resp = self.block(move || db.write(&stats, |c| build(c, &caller))).await?;
            return Ok(stored_response(&resp, false));
        };
        let hash = self
            .req
            .extensions()
            .get::<BodyHash>()
            .map(|h| h.0.clone())
            .unwrap_or_else(|| hash_request(&self.req, b""));
        let principal = caller.principal.actor_key();
        // The claim is the transaction's first statement: it commits with the response
        // or not at all, so a crash or a failed request never locks the key.
        let resp = self
            .block(move || {
                db.write(&stats, |c| match idempotency::claim(c, &principal, &key, &hash)? {
                    Claim::Replay(s) => Ok(Err(s)),
                    Claim::Mismatch => Err(ordo_core::DomainError::rule(
                        "idempotency_key_reused",
                        "this Idempotency-Key was already used with a different request",
                    )),
                    Claim::New(id) => {
                        let r = build(c, &caller)?;
                        idempotency::complete(c, id, &r)?;
                        Ok(Ok(r))
                    }
                })
            })
            .await?;
        Ok(match resp {
            Ok(fresh) => stored_response(&fresh, false),
            Err(replay) => stored_response(&replay, true),
        })
    }
}

/// `If-Match: "3"` → `Some(3)`; absent or `*` → `None`.
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = Problem;
    type Future = Ready<Result<IfMatch, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(v) => {
                let s = v.to_str().unwrap_or("").trim();
                if s == "*" {
                    Ok(IfMatch(None))
                } else {
                    // `"3"` or `"3-9f86d081"` (version and representation digest): the
                    // version decides.
                    let tag = s.trim_start_matches("W/").trim_matches('"');
                    tag.split('-').next().unwrap_or("").parse::<i64>().map(|n| IfMatch(Some(n))).map_err(|_| {
                        Problem::bad_request(
                            "invalid_if_match",
                            "If-Match must be an ETag returned by this API, like \"3\"",
                        )
                    })
                }
            }
        };
        ready(parsed)
    }
}

/// Maps a serde error with its path to a problem: syntax → 400, data → 422 naming the field.
pub fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    use serde_json::error::Category;
    match e.inner().classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Problem::bad_request("malformed_json", format!("the request body is not valid JSON: {}", e.inner()))
        }
        Category::Data => Problem::validation(vec![ordo_core::body::data_error(&e)]),
    }
}

/// Deserializes and validates a body, reporting every failing field it can.
fn parse_validated<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Problem> {
    // Syntax first, so `{} []` is a 400 and not a complaint about missing fields.
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request("malformed_json", format!("the request body is not valid JSON: {e}")))?;
    ordo_core::body::parse_validated(value).map_err(Problem::validation)
}

/// A JSON request body: content type checked, unknown fields refused, every
/// `validator` rule applied; all before the handler runs.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<ValidJson<T>, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let ct =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or("").trim().to_string();
        let bytes = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            if !(mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))) {
                return Err(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as `Content-Type: application/json`",
                ));
            }
            let body = bytes.await.map_err(|e| {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("request body rejected: {e}"))
            })?;
            let value: T = parse_validated(&body)?;
            req.extensions_mut().insert(BodyHash(hash_request(&req, &body)));
            Ok(ValidJson(value))
        })
    }
}

/// A query string parsed strictly: unknown or malformed parameters are a 400 naming them.
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for StrictQuery<T> {
    type Error = Problem;
    type Future = Ready<Result<StrictQuery<T>, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(req.query_string().as_bytes()));
        ready(serde_path_to_error::deserialize(de).map(StrictQuery).map_err(|e| {
            let msg = e.inner().to_string();
            let field = if msg.starts_with("unknown field") {
                msg.split('`').nth(1).unwrap_or("").to_string()
            } else {
                e.path().to_string()
            };
            Problem::bad_request("invalid_query", format!("invalid query parameter: {msg}"))
                .with_errors(vec![FieldError::new(field, "invalid", msg)])
        }))
    }
}
