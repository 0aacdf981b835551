//! `GET /search`: one box that finds customers, contacts, items, leads,
//! opportunities and documents (see `ordo_db::search`).

use actix_web::{get, HttpResponse};
use ordo_core::Page;
use ordo_db::search::{self, SearchHit, SearchKind, SearchRequest};
use serde::Deserialize;

use crate::extract::{Auth, StrictQuery};
use crate::problem::Problem;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find (at most 8, 200 characters). Every word must match; the last
    /// may be the start of a word. Letters and digits only count: `SO-2026-42`
    /// is the words `so`, `2026` and `42`.
    pub q: String,
    /// Only these kinds (comma-separated); default every kind your roles read.
    #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
    #[param(value_type = Option<Vec<SearchKind>>, style = Form, explode = false)]
    pub kinds: Vec<SearchKind>,
    /// Hits per page, 1–100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page of the same search.
    pub cursor: Option<String>,
}

/// Search everything.
///
/// Ranked hits across customers (name, number, legal name, tax id, email, phone),
/// contacts (name, role, email, phone, customer name), items (name, SKU, barcode,
/// description), leads (names, number, email, phone), opportunities (title,
/// competitor, customer name) and quotations, sales orders, blanket orders,
/// deliveries and returns (number, customer PO, contract number, tracking number,
/// customer name). Best hits first: a match in the title (name or number) counts
/// more than one elsewhere. Only kinds your roles read are searched, and a sales
/// agent finds only their own customers' rows and their own leads, as on every list.
/// PostgreSQL full-text search or SQLite FTS5; accents are significant (`zolw` does
/// not find `żółw`). Pages go up to 1,000 hits deep. 403 when your roles read none of
/// the kinds asked for.
#[utoipa::path(
    tag = "search",
    operation_id = "search",
    params(SearchParams),
    responses((status = 200, description = "A page of hits, best first", body = Page<SearchHit>))
)]
#[get("/search")]
pub async fn search_all(auth: Auth, q: StrictQuery<SearchParams>) -> Result<HttpResponse, Problem> {
    let p = q.0;
    let req = SearchRequest::parse(&p.q, &p.kinds, p.limit, p.cursor.as_deref())?;
    // As CSV: every hit from the cursor on, to the depth limit (a search cursor
    // carries its offset as the id).
    let page = ordo_core::PageRequest::parse(None, None)?;
    auth.list(page, move |c, caller, page| search::search(c, caller, &req.from(page.after_id))).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(search_all);
}
