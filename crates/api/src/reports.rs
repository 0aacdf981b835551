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

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(pipeline).service(contact_overdue).service(demand).service(planning_demand);
}
