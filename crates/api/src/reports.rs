//! Reports (pipeline, contact discipline, demand) and the planning demand register.

use actix_web::{get, HttpResponse};
use ordo_core::Page;
use ordo_sales_docs::reports::{
    self, Bucket, DemandQuery, DemandReport, ItemDemand, OverdueOwner, PipelineGroup, PipelineQuery, PipelineReport,
};
use serde::Deserialize;
use time::Date;

use crate::extract::{Auth, StrictQuery};
use crate::problem::Problem;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineParams {
    /// `owner`, `stage` (default), `territory` or `month` (expected close).
    pub group_by: Option<PipelineGroup>,
    /// One owner's pipeline (managers); an agent always sees their own.
    pub owner_id: Option<i64>,
    /// Period for the win rate and stage durations; default the last 365 days.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
}

/// Open and weighted pipeline in the base currency, grouped; win rate and average
/// days per stage over a period.
#[utoipa::path(
    tag = "reports",
    operation_id = "getPipelineReport",
    params(PipelineParams),
    responses((status = 200, description = "The report", body = PipelineReport))
)]
#[get("/reports/pipeline")]
pub async fn pipeline(auth: Auth, q: StrictQuery<PipelineParams>) -> Result<HttpResponse, Problem> {
    let base = auth.db_state().config.base_currency;
    let q = PipelineQuery {
        group_by: q.0.group_by.unwrap_or_default(),
        owner_id: q.0.owner_id,
        from: q.0.from,
        to: q.0.to,
    };
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| reports::pipeline(c, caller, &q, base)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OwnerParams {
    /// One owner's customers (managers); an agent always sees their own.
    pub owner_id: Option<i64>,
}

/// Customers whose last completed call, meeting or email is older than their contact
/// frequency, with days overdue, per owner.
#[utoipa::path(
    tag = "reports",
    operation_id = "getContactOverdueReport",
    params(OwnerParams),
    responses((status = 200, description = "Per owner, most overdue first", body = Vec<OverdueOwner>))
)]
#[get("/reports/contact-overdue")]
pub async fn contact_overdue(auth: Auth, q: StrictQuery<OwnerParams>) -> Result<HttpResponse, Problem> {
    let owner = q.0.owner_id;
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| reports::contact_overdue(c, caller, owner)).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DemandParams {
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    pub item_id: Option<i64>,
    /// `day`, `week` (from Monday) or `month` (default).
    pub bucket: Option<Bucket>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl DemandParams {
    fn query(&self) -> DemandQuery {
        DemandQuery { from: self.from, to: self.to, item_id: self.item_id, bucket: self.bucket.unwrap_or_default() }
    }
}

/// Everything customers asked for, including what was never ordered: quoted, ordered
/// and lost quantities and values per item and period (default the last 365 days),
/// with the lost reasons. `limit`/`cursor` are not used here.
#[utoipa::path(
    tag = "reports",
    operation_id = "getDemandReport",
    params(DemandParams),
    responses((status = 200, description = "The report", body = DemandReport))
)]
#[get("/reports/demand")]
pub async fn demand(auth: Auth, q: StrictQuery<DemandParams>) -> Result<HttpResponse, Problem> {
    let base = auth.db_state().config.base_currency;
    let q = q.0.query();
    Ok(HttpResponse::Ok().json(auth.read(move |c, caller| reports::demand(c, caller, &q, base)).await?))
}

/// Demand per item and date bucket for a planning system: firm (open order lines by
/// requested date), planned (blanket schedules not yet called off) and pipeline (open
/// opportunities × probability). Default period: the next 365 days. Paged by item.
#[utoipa::path(
    tag = "reports",
    operation_id = "getPlanningDemand",
    params(DemandParams),
    responses((status = 200, description = "A page of items", body = Page<ItemDemand>))
)]
#[get("/planning/demand")]
pub async fn planning_demand(auth: Auth, q: StrictQuery<DemandParams>) -> Result<HttpResponse, Problem> {
    let page = crate::common::page(q.0.limit, q.0.cursor.as_deref())?;
    let dq = q.0.query();
    auth.list(page, move |c, caller, page| reports::register(c, caller, &dq, page)).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(pipeline).service(contact_overdue).service(demand).service(planning_demand);
}

// ---- sales targets and the sales report -----------------------------------------------

use ordo_core::body::MergePatch;
use ordo_sales_docs::analytics::{
    SalesBasis, SalesCompare, SalesDimension, SalesFilters, SalesQuery, SalesRow, SalesSort,
};
use ordo_sales_docs::targets::{
    target_service, AttainmentGroup, AttainmentQuery, AttainmentRow, SalesTarget, SalesTargetCreate,
};

crate::team_resource!(SalesTarget);

crate::list_query!(SalesTargetQuery => target_service::Filter {
    /// `2026-11`, `2026-Q4` or `2026`.
    period: Option<String>,
    sales_person_id: Option<i64>,
});

crate::crud_resource! {
    module: sales_targets,
    tag: "sales-team",
    collection: "/sales-targets",
    member: "/sales-targets/{id}",
    history: "/sales-targets/{id}/history",
    location: "/api/v1/sales-targets/{}",
    model: SalesTarget,
    create: SalesTargetCreate,
    patch: MergePatch,
    query: SalesTargetQuery,
    service: ordo_sales_docs::targets::target_service,
    ids: ["createSalesTarget", "listSalesTargets", "getSalesTarget", "updateSalesTarget", "deleteSalesTarget", "getSalesTargetHistory"],
    summaries: ["Set a sales target (a second one for the same period, dimensions, measure and basis is 409)", "List sales targets", "Get a sales target", "Update a sales target (merge-patch)", "Delete a sales target", "History of a sales target"],
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttainmentParams {
    /// `2026-11`, `2026-Q4` or `2026`: the targets inside it.
    pub period: String,
    /// Default `sales_person`.
    pub by: Option<AttainmentGroup>,
}

/// Target attainment: per sales person, item group or territory (and measure and
/// basis), the targets of the period, the actual, percent, gap and forecast. An agent
/// sees their own targets, a sales manager their team's.
#[utoipa::path(tag = "reports", operation_id = "getTargetAttainment", params(AttainmentParams),
    responses((status = 200, description = "One row per group (one page)", body = Page<AttainmentRow>)))]
#[get("/reports/target-attainment")]
pub async fn target_attainment(auth: Auth, q: StrictQuery<AttainmentParams>) -> Result<HttpResponse, Problem> {
    let q = AttainmentQuery { period: q.0.period, by: q.0.by.unwrap_or_default() };
    let base = auth.db_state().config.base_currency;
    auth.list_one(move |c, caller| ordo_sales_docs::targets::attainment(c, caller, &q, base)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesReportParams {
    /// One or two groupings, comma-separated, at most one of them a period:
    /// `customer`, `customer_group`, `item`, `item_group`, `territory`, `sales_person`,
    /// `sales_partner`, `campaign`, `day`, `week`, `month`, `quarter`, `year`.
    /// Default `month`.
    pub by: Option<String>,
    /// Default `invoices`.
    pub basis: Option<SalesBasis>,
    /// First day; default the first of this year.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Last day; default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    pub compare: Option<SalesCompare>,
    /// Default `-revenue`; `key` keeps the groupings' order.
    pub sort: Option<SalesSort>,
    /// Only the first N rows (after sorting).
    #[param(minimum = 1, maximum = 10000)]
    pub top: Option<usize>,
    pub customer_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub item_id: Option<i64>,
    pub item_group_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn dimensions(by: Option<&str>) -> Result<Vec<SalesDimension>, Problem> {
    let bad = |detail: String| {
        Problem::bad_request("invalid_query", format!("invalid query parameter: {detail}"))
            .with_errors(vec![ordo_core::FieldError::new("by", "invalid", detail)])
    };
    let dims = by
        .unwrap_or("month")
        .split(',')
        .map(|s| SalesDimension::parse(s.trim()).ok_or_else(|| bad(format!("unknown grouping `{}`", s.trim()))))
        .collect::<Result<Vec<_>, _>>()?;
    if dims.is_empty() || dims.len() > 2 {
        return Err(bad("one or two groupings".into()));
    }
    if dims.iter().filter(|d| matches!(d.as_str(), "day" | "week" | "month" | "quarter" | "year")).count() > 1 {
        return Err(bad("at most one period grouping".into()));
    }
    Ok(dims)
}

/// The sales report: quantity, revenue (net, base currency), cost of goods, margin,
/// documents and average document value, by one or two groupings with filters on
/// every dimension; compared with the previous period or last year; top N.
/// Cursor-paged; `Accept: text/csv` gives every row as CSV.
#[utoipa::path(tag = "reports", operation_id = "getSalesReport", params(SalesReportParams),
    responses((status = 200, description = "A page of rows", body = Page<SalesRow>)))]
#[get("/reports/sales")]
pub async fn sales_report(auth: Auth, q: StrictQuery<SalesReportParams>) -> Result<HttpResponse, Problem> {
    let p = q.0;
    let by = dimensions(p.by.as_deref())?;
    let today = ordo_core::time_util::now().date();
    let page = crate::common::page(p.limit, p.cursor.as_deref())?;
    let q = SalesQuery {
        by,
        basis: p.basis.unwrap_or_default(),
        from: p.from.unwrap_or_else(|| Date::from_ordinal_date(today.year(), 1).unwrap_or(today)),
        to: p.to.unwrap_or(today),
        filters: SalesFilters {
            customer_id: p.customer_id,
            customer_group_id: p.customer_group_id,
            item_id: p.item_id,
            item_group_id: p.item_group_id,
            territory_id: p.territory_id,
            sales_person_id: p.sales_person_id,
            sales_partner_id: p.sales_partner_id,
            campaign_id: p.campaign_id,
        },
        compare: p.compare,
        sort: p.sort.unwrap_or(SalesSort::RevenueDesc),
        top: p.top,
    };
    auth.list(page, move |c, caller, page| ordo_sales_docs::analytics::sales(c, caller, &q, page)).await
}

pub fn analytics_routes(cfg: &mut crate::routing::Routes) {
    sales_targets::routes(cfg);
    cfg.service(target_attainment).service(sales_report).service(sales_process);
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesProcessParams {
    /// One sales person's (user's) pipeline; an agent always sees their own.
    pub owner_id: Option<i64>,
    /// Opportunities closed on or after this day; default a year before `to`.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Default today.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
}

/// The measurable sales process: per owner and pipeline stage, how often an
/// opportunity in the stage ends won and how long it stays; per owner, win rate, average
/// deal size, cycle time and lost reasons — over the opportunities closed in the period.
/// `Accept: text/csv` gives the same rows.
#[utoipa::path(tag = "reports", operation_id = "getSalesProcessReport", params(SalesProcessParams),
    responses((status = 200, description = "Rows per owner and stage (one page)", body = Page<reports::SalesProcessRow>)))]
#[get("/reports/sales-process")]
pub async fn sales_process(auth: Auth, q: StrictQuery<SalesProcessParams>) -> Result<HttpResponse, Problem> {
    let q = reports::ProcessQuery { owner_id: q.0.owner_id, from: q.0.from, to: q.0.to };
    let base = auth.db_state().config.base_currency;
    auth.list_one(move |c, caller| reports::sales_process(c, caller, &q, base)).await
}
