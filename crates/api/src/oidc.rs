//! Tokens from an external identity provider (issue 17): RS256 or ES256 access tokens
//! of an OpenID Connect issuer, verified against its JWKS and mapped to Ordo users.
//!
//! - Keys come from a file or an `https://` URL (`ORDO_OIDC_JWKS`). They are cached;
//!   a token naming a `kid` the cache lacks makes one refresh (at most one per
//!   `refresh_min_interval`, so random kids cannot turn Ordo into a flood against
//!   the provider), which is how a rotated key is picked up. The cache is refreshed
//!   anyway when it is an hour old.
//! - The token must carry `kid`, name the configured issuer and audience, and be
//!   valid now; only RS256 and ES256 are accepted, and only with a key of that kind.
//! - `ORDO_OIDC_USER_CLAIM` (default `sub`) names the claim matched against Ordo
//!   usernames, then against users' e-mail addresses (case-insensitively): the user
//!   must exist and be active, so scope (an agent's own customers), audit and
//!   deactivation work as for Ordo's own tokens. Users are provisioned in Ordo.
//! - `ORDO_OIDC_ROLES_CLAIM` (a dotted path such as `realm_access.roles`), when set,
//!   gives the roles: the Ordo role names in it (others ignored); unset, the user's
//!   roles in Ordo apply.

use actix_web::web;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ordo_core::{Principal, PrincipalKind, Role};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::problem::Problem;
use crate::AppState;

/// Where the provider's keys are.
#[derive(Debug, Clone)]
pub enum JwksSource {
    File(std::path::PathBuf),
    Url(String),
}

impl JwksSource {
    /// `https://...` (or `http://` for a provider on this machine) or a file path.
    pub fn parse(s: &str) -> JwksSource {
        if s.starts_with("https://") || s.starts_with("http://") {
            JwksSource::Url(s.to_string())
        } else {
            JwksSource::File(s.into())
        }
    }
}

#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    pub user_claim: String,
    pub roles_claim: Option<String>,
    /// Least time between two refreshes caused by unknown key ids.
    pub refresh_min_interval: Duration,
}

struct Keys {
    by_kid: HashMap<String, (Algorithm, DecodingKey)>,
    fetched: Option<Instant>,
}

/// The Ordo user a claim value names, as last read.
#[derive(Clone)]
struct UserRef {
    id: i64,
    username: String,
    roles: String,
    generation: i64,
}

/// The verifier: configuration, the cached keys and the users the claims named.
pub struct Oidc {
    config: OidcConfig,
    keys: Mutex<Keys>,
    /// Serialises refreshes, so a burst of tokens with a new kid fetches once.
    refreshing: futures_util::lock::Mutex<()>,
    /// Claim value → user; checked on every use against the user's token generation
    /// (which deactivation and role changes move), so a stale entry is never used.
    users: Mutex<HashMap<String, UserRef>>,
}

const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

impl Oidc {
    pub fn new(config: OidcConfig) -> Oidc {
        Oidc {
            config,
            keys: Mutex::new(Keys { by_kid: HashMap::new(), fetched: None }),
            refreshing: futures_util::lock::Mutex::new(()),
            users: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        let keys = self.keys.lock().ok()?;
        keys.fetched.filter(|at| at.elapsed() < MAX_KEY_AGE)?;
        keys.by_kid.get(kid).cloned()
    }

    /// Loads the key set again unless that happened within the minimum interval
    /// (or, when `force` is false, within the key age).
    async fn refresh(&self, force: bool) -> Result<(), Problem> {
        let _one = self.refreshing.lock().await;
        let recent = self.keys.lock().ok().and_then(|k| k.fetched).map(|at| at.elapsed());
        let wait = if force { self.config.refresh_min_interval } else { MAX_KEY_AGE };
        if recent.is_some_and(|age| age < wait) {
            return Ok(());
        }
        let text = match &self.config.jwks {
            JwksSource::File(p) => {
                let path = p.clone();
                web::block(move || std::fs::read_to_string(&path))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| format!("{}: {e}", p.display())))
            }
            JwksSource::Url(u) => match crate::webhooks::outgoing_client()
                .map_err(|e| {
                    tracing::error!(cause = %e, "cannot build an HTTP client");
                    unavailable()
                })?
                .get(u)
                .timeout(Duration::from_secs(10))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r.text().await.map_err(|e| e.to_string()),
                Ok(r) => Err(format!("{u}: {}", r.status())),
                Err(e) => Err(format!("{u}: {e}")),
            },
        };
        let set: JwkSet = text.and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string())).map_err(|e| {
            tracing::error!(cause = %e, "cannot load the identity provider's keys");
            unavailable()
        })?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(p)
                    if p.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                by_kid.insert(kid, (alg, key));
            }
        }
        if let Ok(mut keys) = self.keys.lock() {
            *keys = Keys { by_kid, fetched: Some(Instant::now()) };
        }
        Ok(())
    }

    /// The verified claims of an RS256/ES256 token.
    async fn claims(&self, token: &str, alg: Algorithm, kid: &str) -> Result<serde_json::Value, Problem> {
        if self.key(kid).is_none() {
            self.refresh(false).await?;
        }
        if self.key(kid).is_none() {
            self.refresh(true).await?;
        }
        let (key_alg, key) = self.key(kid).ok_or_else(|| {
            Problem::unauthorized("the token is signed with a key the identity provider does not publish")
        })?;
        if key_alg != alg {
            return Err(Problem::unauthorized("the token's algorithm does not match its key"));
        }
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.audience]);
        v.leeway = 30;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| Problem::unauthorized(crate::auth::why_invalid(&e)))
    }
}

fn unavailable() -> Problem {
    let mut p = Problem::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "identity_provider_unavailable",
        "the identity provider's keys cannot be loaded: try again",
    );
    p.retry_after = Some(5);
    p
}

/// The value at a dotted path of the claims.
fn at<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

/// An external token's principal and the token generation its user is at, or why not.
pub async fn verify(
    state: &web::Data<AppState>,
    stats: &ordo_db::Stats,
    token: &str,
    header: &jsonwebtoken::Header,
) -> Result<(Principal, i64), Problem> {
    let Some(oidc) = &state.oidc else {
        return Err(Problem::unauthorized("the token is invalid"));
    };
    let kid = header.kid.as_deref().ok_or_else(|| Problem::unauthorized("the token names no key (`kid`)"))?;
    let claims = oidc.claims(token, header.alg, kid).await?;
    let who = at(&claims, &oidc.config.user_claim)
        .and_then(|v| v.as_str())
        .ok_or_else(|| Problem::unauthorized(format!("the token lacks the `{}` claim", oidc.config.user_claim)))?
        .to_string();
    let claimed_roles: Option<Vec<Role>> = oidc.config.roles_claim.as_ref().map(|path| {
        at(&claims, path)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|r| r.as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    });
    // The cached user first; when its generation moved (deactivated, new roles),
    // read the user again once.
    for attempt in 0..2 {
        let cached = oidc.users.lock().ok().and_then(|m| m.get(&who).cloned()).filter(|_| attempt == 0);
        let user = match cached {
            Some(u) => u,
            None => {
                let (db, stats, name) = (state.db.clone(), stats.clone(), who.clone());
                let row =
                    web::block(move || db.read(&stats, |c| ordo_db::accounts::find_user_by_name_or_email(c, &name)))
                        .await??
                        .filter(|u| u.active)
                        .ok_or_else(|| Problem::unauthorized(format!("no active Ordo user is {who:?}")))?;
                let u =
                    UserRef { id: row.id, username: row.username, roles: row.roles, generation: row.token_generation };
                if let Ok(mut m) = oidc.users.lock() {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(who.clone(), u.clone());
                }
                u
            }
        };
        let roles = claimed_roles.clone().unwrap_or_else(|| ordo_db::accounts::parse_roles(&user.roles));
        let principal = Principal { kind: PrincipalKind::User, id: user.id, name: user.username, roles };
        match crate::auth::current(state, stats, &principal, user.generation).await {
            Ok(()) => return Ok((principal, user.generation)),
            Err(e) if attempt == 1 => return Err(e),
            Err(_) => continue,
        }
    }
    Err(Problem::unauthorized("the token is invalid"))
}
