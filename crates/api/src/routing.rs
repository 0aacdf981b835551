//! The route table, registered once from one list (`openapi::routes`) for two readers:
//! actix-web (serving) and the OpenAPI document (collected only when asked for).
//!
//! Why not register every handler straight on one scope: actix tries the resources of a
//! scope one by one, a regex match per `{id}` route, and with 500 operations that was
//! ~14% of the server's CPU on the order path. Here the operations are grouped by their
//! first path segment (`/sales-orders`, `/invoices`, ...) into one guarded scope each,
//! so a request costs a few prefix comparisons plus the routes of its own collection.
//! Within a group the registration order is kept (static routes before `{id}`).

use actix_web::dev::HttpServiceFactory;
use actix_web::guard::{Guard, GuardContext};
use actix_web::web;
use utoipa::openapi::path::Paths;
use utoipa::openapi::{RefOr, Schema};
use utoipa_actix_web::OpenApiFactory;

type Registration = Box<dyn FnOnce(&mut web::ServiceConfig)>;

/// What the OpenAPI document collects: the paths (with the scope prefix) and schemas.
#[derive(Default)]
pub struct Collected {
    pub paths: Paths,
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

pub struct Routes {
    prefix: &'static str,
    /// First path segment → its registrations, in first-seen order.
    groups: Vec<(String, Vec<Registration>)>,
    doc: Option<Collected>,
}

impl Routes {
    /// A table for serving under `prefix` (no OpenAPI collection).
    pub fn serving(prefix: &'static str) -> Self {
        Routes { prefix, groups: Vec::new(), doc: None }
    }

    /// A table that also collects the OpenAPI paths and schemas.
    pub fn documenting(prefix: &'static str) -> Self {
        Routes { prefix, groups: Vec::new(), doc: Some(Collected::default()) }
    }

    pub fn service<H>(&mut self, handler: H) -> &mut Self
    where
        H: HttpServiceFactory + OpenApiFactory + utoipa::Path + 'static,
    {
        if let Some(doc) = &mut self.doc {
            let mut paths = handler.paths();
            paths.paths = std::mem::take(&mut paths.paths)
                .into_iter()
                .map(|(path, item)| (format!("{}{path}", self.prefix), item))
                .collect();
            doc.paths.merge(paths);
            handler.schemas(&mut doc.schemas);
        }
        let path = H::path();
        let segment = path.trim_start_matches('/').split('/').next().unwrap_or_default().to_string();
        let registration: Registration = Box::new(move |cfg| {
            cfg.service(handler);
        });
        match self.groups.iter_mut().find(|(s, _)| *s == segment) {
            Some((_, regs)) => regs.push(registration),
            None => self.groups.push((segment, vec![registration])),
        }
        self
    }

    /// The collected document parts (`None` for a serving table).
    pub fn into_collected(self) -> Option<Collected> {
        self.doc
    }

    /// Registers the table on an actix config: `scope(prefix)` holding one guarded scope
    /// per first segment. A scope whose routes all miss (say, a wrong method) falls to
    /// the app's default service, which answers 404 or 405.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        let prefix = self.prefix;
        let mut outer = web::scope(prefix);
        for (segment, regs) in self.groups {
            let guard = FirstSegment(format!("{prefix}/{segment}"));
            outer = outer.service(web::scope("").guard(guard).configure(move |cfg| {
                for register in regs {
                    register(cfg);
                }
            }));
        }
        cfg.service(outer);
    }
}

/// Matches a path that is `<prefix>` or `<prefix>/...` (so `/activities` does not catch
/// `/activities.ics`).
struct FirstSegment(String);

impl Guard for FirstSegment {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        let path = ctx.head().uri.path();
        path.strip_prefix(self.0.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}
