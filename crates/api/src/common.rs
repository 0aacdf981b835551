//! Types shared by all resource handlers: pages, history entries, removal outcomes.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use ordo_core::util::Removal;
use ordo_core::{Page, PageRequest};
use ordo_db::audit::Entry;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::extract::json_response;
use crate::problem::Problem;

/// `?limit=&cursor=` for lists without other filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `id` oldest first (the default), `-id` newest first.
    pub sort: Option<crate::crud::IdSort>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

pub fn page(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, Problem> {
    PageRequest::parse(limit, cursor).map_err(Problem::from)
}

/// `?expand=` on a single document.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpandQuery {
    /// Embed what the document refers to, comma-separated: `customer`, `contact`,
    /// `owner` (the customer's owner: display name), `sales_person`, `lines.item` (where
    /// lines are in the answer). One query per kind for the whole page.
    #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
    #[param(value_type = Option<Vec<ordo_sales_docs::expand::Expand>>, style = Form, explode = false)]
    pub expand: Vec<ordo_sales_docs::expand::Expand>,
}

pub fn sorted_page(limit: Option<i64>, cursor: Option<&str>, sort: ordo_core::Sort) -> Result<PageRequest, Problem> {
    PageRequest::parse_sorted(limit, cursor, sort).map_err(Problem::from)
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, Problem> {
        sorted_page(self.limit, self.cursor.as_deref(), self.sort.unwrap_or(crate::crud::IdSort::Id).sort())
    }
}

/// One change in a resource's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub id: i64,
    /// `create`, `update`, `archive`, `delete`, or an action name.
    pub action: String,
    /// `user:<id>` or `client:<id>`.
    pub actor: String,
    pub actor_name: String,
    pub request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// For updates `{field: {from, to}}`; for creates and deletes the whole record.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

pub fn history_page(p: Page<Entry>) -> Page<HistoryEntry> {
    p.map(|e| HistoryEntry {
        id: e.id,
        action: e.action,
        actor: e.actor,
        actor_name: e.actor_name,
        request_id: e.request_id,
        at: e.at.assume_utc(),
        changes: serde_json::from_str(&e.changes).unwrap_or(serde_json::Value::Null),
    })
}

/// 204 after a hard delete; 200 with the archived resource when it was still referenced.
pub fn removal_response<T: Serialize>(r: Removal<T>, version: impl Fn(&T) -> i64) -> HttpResponse {
    match r {
        Removal::Deleted => HttpResponse::NoContent().finish(),
        Removal::Archived(t) => json_response(StatusCode::OK, &t, Some(version(&t))),
    }
}

/// Parses `updated_since` (RFC 3339).
pub fn timestamp_param(name: &str, v: Option<&str>) -> Result<Option<OffsetDateTime>, Problem> {
    v.map(|s| {
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
            Problem::bad_request(
                "invalid_query",
                format!("`{name}` must be an RFC 3339 timestamp like 2026-01-31T12:00:00Z"),
            )
            .with_errors(vec![ordo_core::FieldError::new(name, "invalid", "not an RFC 3339 timestamp")])
        })
    })
    .transpose()
}
