//! Service desk endpoints: tickets with comments, stage moves, reopening and returns;
//! the desk's settings and scoring; categories, teams and SLA policies; the service
//! report.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, put, web, HttpResponse};
use ordo_core::body::MergePatch;
use ordo_core::Page;
use ordo_service::reports::{self, ServiceGroup, ServiceQuery, ServiceReportRow, SlaBreach};
use ordo_service::settings::{
    self, DeskSettings, Priority, ServiceSettings, StageCategory, TicketScoring, TicketScoringSettings,
};
use ordo_service::setup::*;
use ordo_service::tickets::{
    self, CommentCreate, Ticket, TicketComment, TicketCreate, TicketKind, TicketMove, TicketReopen, TicketReturn,
};
use serde::Deserialize;
use time::Date;

use crate::common::PageQuery;
use crate::crud::ListQuery;
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

crate::team_resource!(Ticket, TicketCategory, ServiceTeam, SlaPolicy);

crate::list_query!(CategoryQuery => category_service::Filter {
    /// Direct children of this category.
    parent_id: Option<i64>,
    active: Option<bool>,
});
crate::list_query!(SlaPolicyQuery => sla_policy_service::Filter {
    customer_id: Option<i64>,
    customer_group_id: Option<i64>,
    active: Option<bool>,
});

crate::crud_resource! {
    module: ticket_categories,
    tag: "service-setup",
    collection: "/ticket-categories",
    member: "/ticket-categories/{id}",
    history: "/ticket-categories/{id}/history",
    location: "/api/v1/ticket-categories/{}",
    model: TicketCategory,
    create: TicketCategoryCreate,
    patch: MergePatch,
    query: CategoryQuery,
    service: ordo_service::setup::category_service,
    ids: ["createTicketCategory", "listTicketCategories", "getTicketCategory", "updateTicketCategory", "deleteTicketCategory", "getTicketCategoryHistory"],
    summaries: ["Create a ticket category (a node of the classification tree)", "List ticket categories", "Get a ticket category", "Update a ticket category (merge-patch)", "Delete a ticket category no ticket uses (409 `in_use` otherwise: deactivate it)", "History of a ticket category"],
}

crate::crud_resource! {
    module: service_teams,
    tag: "service-setup",
    collection: "/service-teams",
    member: "/service-teams/{id}",
    history: "/service-teams/{id}/history",
    location: "/api/v1/service-teams/{}",
    model: ServiceTeam,
    create: ServiceTeamCreate,
    patch: MergePatch,
    query: PageQuery,
    service: ordo_service::setup::team_service,
    ids: ["createServiceTeam", "listServiceTeams", "getServiceTeam", "updateServiceTeam", "deleteServiceTeam", "getServiceTeamHistory"],
    summaries: ["Create a service team", "List service teams", "Get a service team", "Update a service team (merge-patch)", "Delete a service team no ticket uses", "History of a service team"],
}

crate::crud_resource! {
    module: sla_policies,
    tag: "service-setup",
    collection: "/sla-policies",
    member: "/sla-policies/{id}",
    history: "/sla-policies/{id}/history",
    location: "/api/v1/sla-policies/{}",
    model: SlaPolicy,
    create: SlaPolicyCreate,
    patch: MergePatch,
    query: SlaPolicyQuery,
    service: ordo_service::setup::sla_policy_service,
    ids: ["createSlaPolicy", "listSlaPolicies", "getSlaPolicy", "updateSlaPolicy", "deleteSlaPolicy", "getSlaPolicyHistory"],
    summaries: ["Create an SLA policy (targets in business minutes; a second active policy for the same customer, group and priority is 409)", "List SLA policies", "Get an SLA policy", "Update an SLA policy (merge-patch; tickets take the new targets when their SLA is next computed)", "Delete an SLA policy no ticket uses (409 `in_use` otherwise: deactivate it)", "History of an SLA policy"],
}

// ---- settings ------------------------------------------------------------------------

/// The service desk's settings: stages, reopen window, business hours, priority matrix.
#[utoipa::path(tag = "service-setup", operation_id = "getServiceSettings",
    responses((status = 200, description = "The settings", body = ServiceSettings, headers(("ETag" = String)))))]
#[get("/service-settings")]
pub async fn get_service_settings(auth: Auth) -> Result<HttpResponse, Problem> {
    let v = auth.read(settings::get).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Replace the service desk's settings (the whole record). A stage tickets are in
/// must stay, with its category (409 `stage_in_use`).
#[utoipa::path(tag = "service-setup", operation_id = "updateServiceSettings", request_body = DeskSettings,
    responses((status = 200, description = "Updated", body = ServiceSettings, headers(("ETag" = String)))))]
#[put("/service-settings")]
pub async fn put_service_settings(
    auth: Auth,
    if_match: IfMatch,
    body: ValidJson<DeskSettings>,
) -> Result<HttpResponse, Problem> {
    let p = body.0;
    let v = auth.write(move |c, caller| settings::put(c, caller, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// The work queue's scoring weights.
#[utoipa::path(tag = "service-setup", operation_id = "getTicketScoring",
    responses((status = 200, description = "The weights", body = TicketScoringSettings, headers(("ETag" = String)))))]
#[get("/ticket-scoring")]
pub async fn get_ticket_scoring(auth: Auth) -> Result<HttpResponse, Problem> {
    let v = auth.read(settings::get_scoring).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Replace the scoring weights; every open ticket is rescored in the same transaction.
#[utoipa::path(tag = "service-setup", operation_id = "updateTicketScoring", request_body = TicketScoring,
    responses((status = 200, description = "Updated", body = TicketScoringSettings, headers(("ETag" = String)))))]
#[put("/ticket-scoring")]
pub async fn put_ticket_scoring(
    auth: Auth,
    if_match: IfMatch,
    body: ValidJson<TicketScoring>,
) -> Result<HttpResponse, Problem> {
    let p = body.0;
    let v = auth.write(move |c, caller| settings::put_scoring(c, caller, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

// ---- tickets -------------------------------------------------------------------------

crate::sort_enum!(
    /// `score` (the queue: `-score`), `created_at`, `updated_at`, `id`; `-` for descending.
    TicketSort {
        Score = "score" / ScoreDesc = "-score",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

crate::list_query!(TicketQuery => tickets::Filter {
    customer_id: Option<i64>,
    kind: Option<TicketKind>,
    /// A stage code.
    stage: Option<String>,
    state: Option<StageCategory>,
    /// Open tickets (new, active, waiting) or the others.
    open: Option<bool>,
    priority: Option<Priority>,
    assignee_id: Option<i64>,
    /// Tickets nobody is assigned to.
    unassigned: Option<bool>,
    team_id: Option<i64>,
    category_id: Option<i64>,
    item_id: Option<i64>,
    sales_order_id: Option<i64>,
    /// Open tickets with an SLA target past its due time.
    breached: Option<bool>,
} sort: TicketSort = TicketSort::Id);

/// Open a ticket. Its priority comes from the impact × urgency matrix unless set; its
/// SLA policy is the most specific active one; it starts in the first stage.
#[utoipa::path(tag = "service", operation_id = "createTicket", request_body = TicketCreate,
    responses((status = 201, description = "Opened", body = Ticket, headers(("ETag" = String), ("Location" = String)))))]
#[post("/tickets")]
pub async fn create_ticket(auth: Auth, body: ValidJson<TicketCreate>) -> Result<HttpResponse, Problem> {
    let input = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| tickets::create(c, caller, input),
        |v| ReplyMeta { location: Some(format!("/api/v1/tickets/{}", v.id)), version: Some(v.version) },
    )
    .await
}

/// List tickets; `?open=true&sort=-score` is the work queue.
#[utoipa::path(tag = "service", operation_id = "listTickets", params(TicketQuery),
    responses((status = 200, description = "A page", body = Page<Ticket>)))]
#[get("/tickets")]
pub async fn list_tickets(auth: Auth, q: StrictQuery<TicketQuery>) -> Result<HttpResponse, Problem> {
    let (f, page) = q.0.split()?;
    auth.list(page, move |c, caller, page| tickets::list(c, caller, &f, page)).await
}

/// Get a ticket with its SLA, escalations, return and credit notes.
#[utoipa::path(tag = "service", operation_id = "getTicket", params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Found", body = Ticket, headers(("ETag" = String)))))]
#[get("/tickets/{id}")]
pub async fn get_ticket(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let v = auth.read(move |c, caller| tickets::get(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Update a ticket (merge-patch in the create shape; closed tickets: 409). Assigning
/// and setting the priority need the right to work tickets.
#[utoipa::path(tag = "service", operation_id = "updateTicket", params(("id" = i64, Path, description = "Id")),
    request_body(content = MergePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = Ticket, headers(("ETag" = String)))))]
#[patch("/tickets/{id}")]
pub async fn update_ticket(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<MergePatch>,
) -> Result<HttpResponse, Problem> {
    let (id, p) = (id.into_inner(), body.0);
    let v = auth.write(move |c, caller| tickets::update(c, caller, id, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

crate::history_endpoint! {
    /// History of a ticket: every change, move, comment, escalation, with who and when.
    fn ticket_history, tag: "service", id: "getTicketHistory", path: "/tickets/{id}/history",
    call: |c, caller, id, page| tickets::history(c, caller, id, page)
}

crate::action! {
    /// Move a ticket to another stage (waiting stops the SLA clock; resolving meets the
    /// resolution target; closing needs a resolved ticket).
    fn move_ticket, tag: "service", id: "moveTicket", path: "/tickets/{id}/move", model: Ticket,
    body: TicketMove,
    call: |c, caller, id, if_match, input| tickets::move_to(c, caller, id, if_match, input)
}

crate::action! {
    /// Reopen a resolved or closed ticket within the reopen window of `/service-settings`.
    fn reopen_ticket, tag: "service", id: "reopenTicket", path: "/tickets/{id}/reopen", model: Ticket,
    body: TicketReopen,
    call: |c, caller, id, if_match, input| tickets::reopen(c, caller, id, if_match, input)
}

crate::action! {
    /// Authorise the return a complaint asks for (one per ticket); credit it with
    /// `POST /returns/{id}/credit-note` once received. The ticket shows both.
    fn ticket_return, tag: "service", id: "createTicketReturn", path: "/tickets/{id}/return", model: Ticket,
    body: TicketReturn,
    call: |c, caller, id, if_match, input| tickets::make_return(c, caller, id, if_match, input)
}

/// Comment on a ticket: internal, or for the customer (the first such answer from the
/// desk meets the first-response target).
#[utoipa::path(tag = "service", operation_id = "createTicketComment", params(("id" = i64, Path, description = "Ticket id")),
    request_body = CommentCreate,
    responses((status = 201, description = "Added", body = TicketComment)))]
#[post("/tickets/{id}/comments")]
pub async fn create_comment(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<CommentCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| tickets::comment(c, caller, id, input),
        |_| ReplyMeta { location: None, version: None },
    )
    .await
}

/// A ticket's comments, oldest first.
#[utoipa::path(tag = "service", operation_id = "listTicketComments",
    params(("id" = i64, Path, description = "Ticket id"), PageQuery),
    responses((status = 200, description = "A page", body = Page<TicketComment>)))]
#[get("/tickets/{id}/comments")]
pub async fn list_comments(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| tickets::comments(c, caller, id, page)).await
}

// ---- report --------------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceReportParams {
    /// The grouping; default `stage` (the backlog by stage and age).
    pub by: Option<ServiceGroup>,
    /// Tickets opened on or after this day.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Tickets opened on or before this day.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    pub customer_id: Option<i64>,
    pub team_id: Option<i64>,
}

impl ServiceReportParams {
    fn query(self) -> ServiceQuery {
        ServiceQuery {
            by: self.by.unwrap_or_default(),
            from: self.from,
            to: self.to,
            customer_id: self.customer_id,
            team_id: self.team_id,
        }
    }
}

/// The service report: per group, tickets opened, resolved and open (with the backlog's
/// age), first-response and resolution times in business minutes (average, median,
/// p90) and SLA attainment. `Accept: text/csv` gives the same rows as CSV.
#[utoipa::path(tag = "reports", operation_id = "getServiceReport", params(ServiceReportParams),
    responses((status = 200, description = "One row per group (one page)", body = Page<ServiceReportRow>)))]
#[get("/reports/service")]
pub async fn service_report(auth: Auth, q: StrictQuery<ServiceReportParams>) -> Result<HttpResponse, Problem> {
    let q = q.0.query();
    auth.list_one(move |c, caller| reports::service(c, caller, &q)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreachParams {
    /// Tickets opened on or after this day.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Tickets opened on or before this day.
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    pub customer_id: Option<i64>,
    pub team_id: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// SLA breaches: every target done late or still not done past its due time, of the
/// tickets opened in the period (cursor-paged by ticket; `Accept: text/csv` works).
#[utoipa::path(tag = "reports", operation_id = "listSlaBreaches", params(BreachParams),
    responses((status = 200, description = "A page", body = Page<SlaBreach>)))]
#[get("/reports/service/breaches")]
pub async fn sla_breaches(auth: Auth, q: StrictQuery<BreachParams>) -> Result<HttpResponse, Problem> {
    let b = q.0;
    let page = crate::common::page(b.limit, b.cursor.as_deref())?;
    let q = ServiceQuery {
        by: ServiceGroup::Stage,
        from: b.from,
        to: b.to,
        customer_id: b.customer_id,
        team_id: b.team_id,
    };
    auth.list(page, move |c, caller, page| reports::breaches(c, caller, &q, page)).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    ticket_categories::routes(cfg);
    service_teams::routes(cfg);
    sla_policies::routes(cfg);
    cfg.service(get_service_settings)
        .service(put_service_settings)
        .service(get_ticket_scoring)
        .service(put_ticket_scoring)
        .service(create_ticket)
        .service(list_tickets)
        .service(get_ticket)
        .service(update_ticket)
        .service(ticket_history)
        .service(move_ticket)
        .service(reopen_ticket)
        .service(ticket_return)
        .service(create_comment)
        .service(list_comments)
        .service(service_report)
        .service(sla_breaches);
}
