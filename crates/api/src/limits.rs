//! Rate limits (issue 17): per client IP for the token endpoint (password guessing)
//! and, when configured, for the whole API; per principal for the API. Each limit is
//! "N requests a minute" with a burst of N, kept per process by the generic cell
//! rate algorithm (one timestamp per key, integer nanoseconds). Several processes
//! behind a load balancer each keep their own counts: the effective limit is N times
//! the number of processes (README, Operations).
//!
//! An answer over a limit is a 429 problem with `Retry-After`; every limited answer
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds
//! until the full burst is available again) as the IETF httpapi draft names them,
//! and `RateLimit-Policy` (`N;w=60`).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::problem::Problem;

/// Abuse protection settings (`ORDO_RATE_LIMIT_*`, `ORDO_LOGIN_*`).
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Token requests a minute per client IP; 0: unlimited.
    pub token_per_ip: u32,
    /// API requests a minute per principal (user or API client); 0: unlimited.
    pub api_per_principal: u32,
    /// API requests a minute per client IP, authenticated or not; 0: unlimited.
    pub api_per_ip: u32,
    /// Reverse proxies in front of Ordo that append to `X-Forwarded-For`; the client
    /// IP is the entry they added. 0: the connection's peer address (the header is
    /// ignored, since anyone can send it).
    pub trusted_proxy_hops: usize,
    /// Wrong passwords in a row before a user is locked; 0: never locked.
    pub login_max_failures: i32,
    /// How long a lockout lasts.
    pub login_lockout: time::Duration,
    /// How old a process's knowledge of revoked tokens may be ([`ordo_db::tokens`]).
    pub revocation_poll: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            token_per_ip: 60,
            api_per_principal: 6000,
            api_per_ip: 0,
            trusted_proxy_hops: 0,
            login_max_failures: 5,
            login_lockout: time::Duration::minutes(15),
            revocation_poll: Duration::from_millis(250),
        }
    }
}

/// One limit: `per_minute` requests a minute per key, a burst of as many.
pub struct RateLimiter {
    per_minute: u32,
    /// Nanoseconds between two requests at the steady rate.
    interval: u64,
    /// The burst, as time: how far ahead of now a key's next slot may be.
    tolerance: u64,
    start: Instant,
    /// Per key: the theoretical arrival time of its next request (ns since `start`).
    slots: Mutex<HashMap<String, u64>>,
}

/// What a limit said about one request.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the whole burst is available again.
    pub reset: u64,
    /// Over the limit: seconds to wait.
    pub retry_after: Option<u64>,
}

const NANOS: u64 = 1_000_000_000;

impl RateLimiter {
    /// None when `per_minute` is 0 (no limit).
    pub fn new(per_minute: u32) -> Option<RateLimiter> {
        (per_minute > 0).then(|| {
            let interval = 60 * NANOS / u64::from(per_minute);
            RateLimiter {
                per_minute,
                interval,
                tolerance: interval * u64::from(per_minute - 1),
                start: Instant::now(),
                slots: Mutex::new(HashMap::new()),
            }
        })
    }

    pub fn check(&self, key: &str) -> Verdict {
        let now = self.start.elapsed().as_nanos() as u64;
        let Ok(mut slots) = self.slots.lock() else {
            return Verdict { limit: self.per_minute, remaining: 0, reset: 0, retry_after: None };
        };
        if slots.len() > 50_000 {
            // Keys whose burst is whole again carry no information.
            slots.retain(|_, tat| *tat > now);
        }
        let tat = slots.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            let wait = ahead - self.tolerance;
            return Verdict {
                limit: self.per_minute,
                remaining: 0,
                reset: ahead.div_ceil(NANOS),
                retry_after: Some(wait.div_ceil(NANOS).max(1)),
            };
        }
        let next = tat + self.interval;
        slots.insert(key.to_string(), next);
        let used = next - now;
        let remaining = (self.tolerance + self.interval).saturating_sub(used) / self.interval;
        Verdict { limit: self.per_minute, remaining: remaining as u32, reset: used.div_ceil(NANOS), retry_after: None }
    }
}

/// The process's limiters, built from [`SecurityConfig`].
pub struct Limits {
    pub token_per_ip: Option<RateLimiter>,
    pub api_per_principal: Option<RateLimiter>,
    pub api_per_ip: Option<RateLimiter>,
    trusted_proxy_hops: usize,
}

impl Limits {
    pub fn new(c: &SecurityConfig) -> Limits {
        Limits {
            token_per_ip: RateLimiter::new(c.token_per_ip),
            api_per_principal: RateLimiter::new(c.api_per_principal),
            api_per_ip: RateLimiter::new(c.api_per_ip),
            trusted_proxy_hops: c.trusted_proxy_hops,
        }
    }

    /// The client's address: the peer, or the entry the outermost trusted proxy
    /// appended to `X-Forwarded-For`.
    pub fn client_ip(&self, req: &HttpRequest) -> String {
        let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into());
        if self.trusted_proxy_hops == 0 {
            return peer;
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        forwarded
            .len()
            .checked_sub(self.trusted_proxy_hops)
            .and_then(|i| forwarded.get(i))
            .and_then(|s| s.parse::<IpAddr>().ok())
            .map_or(peer, |ip| ip.to_string())
    }
}

/// Applies `limiter` to `key` for this request: the verdict is kept for the answer's
/// headers (the tightest one wins), and a request over the limit is refused.
pub fn enforce(req: &HttpRequest, limiter: Option<&RateLimiter>, key: &str, what: &str) -> Result<(), Problem> {
    let Some(limiter) = limiter else { return Ok(()) };
    let verdict = limiter.check(key);
    let mut ext = req.extensions_mut();
    let keep = match ext.get::<Verdict>() {
        Some(v) => verdict.retry_after.is_some() || verdict.remaining < v.remaining,
        None => true,
    };
    if keep {
        ext.insert(verdict);
    }
    match verdict.retry_after {
        None => Ok(()),
        Some(wait) => {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("more than {} {what} a minute: try again in {wait} s", verdict.limit),
            );
            p.retry_after = Some(wait);
            Err(p)
        }
    }
}

/// The per-IP limit for the whole API, before routing.
pub fn enforce_ip(req: &ServiceRequest, limits: &Limits) -> Result<(), Problem> {
    if limits.api_per_ip.is_none() {
        return Ok(());
    }
    let ip = limits.client_ip(req.request());
    enforce(req.request(), limits.api_per_ip.as_ref(), &format!("ip:{ip}"), "requests from this address")
}

/// `RateLimit-*` headers for the verdict this request got, if a limit applied.
pub fn headers(req: &HttpRequest, h: &mut HeaderMap) {
    let Some(v) = req.extensions().get::<Verdict>().copied() else { return };
    for (name, value) in [
        ("ratelimit-limit", v.limit.to_string()),
        ("ratelimit-remaining", v.remaining.to_string()),
        ("ratelimit-reset", v.reset.to_string()),
        ("ratelimit-policy", format!("{};w=60", v.limit)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_limit_then_refusal_then_recovery() {
        let l = RateLimiter::new(60).unwrap();
        for i in 0..60 {
            let v = l.check("k");
            assert_eq!(v.retry_after, None, "request {i} is within the burst");
            assert_eq!(v.remaining, 59 - i);
        }
        let v = l.check("k");
        assert_eq!(v.retry_after, Some(1), "the 61st waits one interval (1 s at 60/min)");
        assert_eq!(v.remaining, 0);
        assert!(l.check("other").retry_after.is_none(), "keys are separate");
    }

    #[test]
    fn the_client_address_is_what_the_trusted_proxies_saw() {
        let req = |hops: usize, xff: &[&str]| {
            let mut t = actix_web::test::TestRequest::default().peer_addr("10.9.9.9:4000".parse().unwrap());
            for v in xff {
                t = t.append_header(("x-forwarded-for", *v));
            }
            let limits = Limits::new(&SecurityConfig { trusted_proxy_hops: hops, ..Default::default() });
            limits.client_ip(&t.to_http_request())
        };
        assert_eq!(req(0, &["1.2.3.4"]), "10.9.9.9", "untrusted: the header is ignored");
        assert_eq!(req(1, &["6.6.6.6, 1.2.3.4"]), "1.2.3.4", "one proxy: the entry it appended");
        assert_eq!(req(2, &["6.6.6.6, 1.2.3.4", "172.16.0.1"]), "1.2.3.4", "two proxies, two header lines");
        assert_eq!(req(2, &["1.2.3.4"]), "10.9.9.9", "fewer entries than proxies: the peer");
        assert_eq!(req(1, &["not-an-address"]), "10.9.9.9");
        assert_eq!(req(0, &[]), "10.9.9.9");
    }
}
