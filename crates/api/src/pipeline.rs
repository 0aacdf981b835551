//! Pipeline endpoints: leads (with conversion), pipeline stages, opportunities.

use actix_web::{get, post, web, HttpResponse};
use ordo_core::body::MergePatch;
use ordo_core::Page;
use ordo_crm::pipeline::*;

use crate::common::PageQuery;
use crate::extract::{Auth, StrictQuery};
use crate::problem::Problem;

crate::team_resource!(Lead, PipelineStage, Opportunity);

impl crate::crud::Resource for LeadConversion {
    fn id(&self) -> i64 {
        self.lead.id
    }
    fn version(&self) -> i64 {
        self.lead.version
    }
}

crate::list_query!(LeadQuery => lead_service::Filter {
    status: Option<LeadStatus>,
    owner_id: Option<i64>,
    campaign_id: Option<i64>,
} sort: crate::crud::LeadSort = crate::crud::LeadSort::Id);
crate::list_query!(StageQuery => pipeline_stage_service::Filter {
    active: Option<bool>,
});
crate::list_query!(OpportunityQuery => opportunity_service::Filter {
    status: Option<OpportunityStatus>,
    owner_id: Option<i64>,
    customer_id: Option<i64>,
    lead_id: Option<i64>,
    stage_id: Option<i64>,
} sort: crate::crud::OpportunitySort = crate::crud::OpportunitySort::Id);

crate::crud_resource! {
    module: leads,
    tag: "pipeline",
    collection: "/leads",
    member: "/leads/{id}",
    history: "/leads/{id}/history",
    location: "/api/v1/leads/{}",
    model: Lead,
    create: LeadCreate,
    patch: MergePatch,
    query: LeadQuery,
    service: ordo_crm::pipeline::lead_service,
    ids: ["createLead", "listLeads", "getLead", "updateLead", "deleteLead", "getLeadHistory"],
    summaries: ["Create a lead", "List leads (an agent: their own)", "Get a lead", "Update a lead (merge-patch; converted leads are read-only)", "Delete a lead that is not converted", "History of a lead"],
}

crate::crud_resource! {
    module: pipeline_stages,
    tag: "pipeline",
    collection: "/pipeline-stages",
    member: "/pipeline-stages/{id}",
    history: "/pipeline-stages/{id}/history",
    location: "/api/v1/pipeline-stages/{}",
    model: PipelineStage,
    create: PipelineStageCreate,
    patch: MergePatch,
    query: StageQuery,
    service: ordo_crm::pipeline::pipeline_stage_service,
    ids: ["createPipelineStage", "listPipelineStages", "getPipelineStage", "updatePipelineStage", "deletePipelineStage", "getPipelineStageHistory"],
    summaries: ["Create a pipeline stage", "List pipeline stages", "Get a pipeline stage", "Update a pipeline stage (merge-patch)", "Delete a pipeline stage no opportunity uses", "History of a pipeline stage"],
}

crate::crud_resource! {
    module: opportunities,
    tag: "pipeline",
    collection: "/opportunities",
    member: "/opportunities/{id}",
    history: "/opportunities/{id}/history",
    location: "/api/v1/opportunities/{}",
    model: Opportunity,
    create: OpportunityCreate,
    patch: MergePatch,
    query: OpportunityQuery,
    service: ordo_crm::pipeline::opportunity_service,
    ids: ["createOpportunity", "listOpportunities", "getOpportunity", "updateOpportunity", "deleteOpportunity", "getOpportunityHistory"],
    summaries: ["Create an opportunity", "List opportunities", "Get an opportunity", "Update an open opportunity (merge-patch; a stage change is recorded)", "Delete an opportunity", "History of an opportunity"],
}

crate::action! {
    /// `new → contacted`.
    fn contact_lead, tag: "pipeline", id: "contactLead", path: "/leads/{id}/contact", model: Lead,
    call: |c, caller, id, if_match| lead_service::transition(c, caller, id, if_match, LeadStatus::Contacted, None)
}
crate::action! {
    /// `new | contacted → qualified`.
    fn qualify_lead, tag: "pipeline", id: "qualifyLead", path: "/leads/{id}/qualify", model: Lead,
    call: |c, caller, id, if_match| lead_service::transition(c, caller, id, if_match, LeadStatus::Qualified, None)
}
crate::action! {
    /// Disqualify a lead with a reason.
    fn disqualify_lead, tag: "pipeline", id: "disqualifyLead", path: "/leads/{id}/disqualify", model: Lead,
    body: Reason,
    call: |c, caller, id, if_match, input| lead_service::transition(
        c, caller, id, if_match, LeadStatus::Disqualified, Some(input.reason))
}
crate::action! {
    /// Create a customer (or link an existing one) and optionally an opportunity, in one
    /// transaction. Converting twice is 409 `lead_converted`.
    fn convert_lead, tag: "pipeline", id: "convertLead", path: "/leads/{id}/convert", model: LeadConversion,
    body: LeadConvert,
    call: |c, caller, id, if_match, input| lead_service::convert(c, caller, id, if_match, input)
}
crate::action! {
    /// Close an open opportunity as won.
    fn win_opportunity, tag: "pipeline", id: "winOpportunity", path: "/opportunities/{id}/win", model: Opportunity,
    call: |c, caller, id, if_match| opportunity_service::close(c, caller, id, if_match, OpportunityStatus::Won, None)
}
crate::action! {
    /// Close an open opportunity as lost, with the reason and the competitor who won.
    fn lose_opportunity, tag: "pipeline", id: "loseOpportunity", path: "/opportunities/{id}/lose", model: Opportunity,
    body: LoseOpportunity,
    call: |c, caller, id, if_match, input| opportunity_service::close(
        c, caller, id, if_match, OpportunityStatus::Lost, Some(input))
}

/// Every stage the opportunity went through, with its date.
#[utoipa::path(
    tag = "pipeline",
    operation_id = "listOpportunityStageChanges",
    params(("id" = i64, Path, description = "Opportunity id"), PageQuery),
    responses((status = 200, description = "Stage changes, oldest first", body = Page<StageChange>))
)]
#[get("/opportunities/{id}/stage-changes")]
pub async fn stage_changes(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| opportunity_service::stage_changes(c, caller, id, page)).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    leads::routes(cfg);
    pipeline_stages::routes(cfg);
    opportunities::routes(cfg);
    cfg.service(contact_lead)
        .service(qualify_lead)
        .service(disqualify_lead)
        .service(convert_lead)
        .service(win_opportunity)
        .service(lose_opportunity)
        .service(stage_changes);
}
