//! Activity endpoints, with the iCalendar feed of a user's open activities.

use actix_web::{get, web, HttpRequest, HttpResponse};
use ordo_core::body::MergePatch;
use ordo_crm::activities::{self, Activity, ActivityCreate, ActivityKind, Assignee};
use serde::{Deserialize, Serialize};

use crate::crud::ListQuery;
use crate::extract::{Auth, StrictQuery};
use crate::problem::Problem;

crate::team_resource!(Activity);

/// `?assignee=me|<user id>&overdue=true&...`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// `me` or a user id.
    pub assignee: Option<String>,
    /// `true`: open and past due; `false`: the rest.
    pub overdue: Option<bool>,
    pub done: Option<bool>,
    pub kind: Option<ActivityKind>,
    pub customer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    pub quotation_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl ListQuery for ActivityQuery {
    type Filter = activities::Filter;
    fn split(self) -> Result<(activities::Filter, ordo_core::PageRequest), Problem> {
        let page = crate::common::page(self.limit, self.cursor.as_deref())?;
        let assignee = match self.assignee.as_deref() {
            None => None,
            Some("me") => Some(Assignee::Me),
            Some(v) => Some(Assignee::User(v.parse().map_err(|_| {
                Problem::from(ordo_core::DomainError::field("assignee", "invalid", "`me` or a user id"))
            })?)),
        };
        Ok((
            activities::Filter {
                assignee,
                overdue: self.overdue,
                done: self.done,
                kind: self.kind,
                customer_id: self.customer_id,
                lead_id: self.lead_id,
                opportunity_id: self.opportunity_id,
                quotation_id: self.quotation_id,
                sales_order_id: self.sales_order_id,
            },
            page,
        ))
    }
}

crate::crud_resource! {
    module: activity_docs,
    tag: "activities",
    collection: "/activities",
    member: "/activities/{id}",
    history: "/activities/{id}/history",
    location: "/api/v1/activities/{}",
    model: Activity,
    create: ActivityCreate,
    patch: MergePatch,
    query: ActivityQuery,
    service: ordo_crm::activities,
    ids: ["createActivity", "listActivities", "getActivity", "updateActivity", "deleteActivity", "getActivityHistory"],
    summaries: ["Log or plan an activity (assigned to you unless `assignee_id` says otherwise)", "List activities (`?assignee=me&overdue=true`)", "Get an activity", "Update an activity (merge-patch; `done: true` stamps `done_at`)", "Delete an activity", "History of an activity"],
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The feed token from `GET /activities/calendar-feed` (instead of a bearer token).
    pub token: Option<String>,
}

/// The caller's open activities as iCalendar (`text/calendar`), for calendar clients
/// to subscribe to. Authenticate with a bearer token or `?token=` (a calendar feed
/// token, which opens nothing else).
#[utoipa::path(
    tag = "activities",
    operation_id = "getActivityCalendar",
    params(FeedQuery),
    responses((status = 200, description = "RFC 5545 calendar", content_type = "text/calendar", body = String))
)]
#[get("/activities.ics")]
pub async fn calendar(req: HttpRequest, q: StrictQuery<FeedQuery>) -> Result<HttpResponse, Problem> {
    let has_bearer = req.headers().contains_key(actix_web::http::header::AUTHORIZATION);
    let auth = match (&q.0.token, has_bearer) {
        (Some(t), false) => {
            let state = req.app_data::<web::Data<crate::AppState>>().ok_or_else(Problem::internal)?;
            let (principal, generation) = state.jwt.verify_feed(t)?;
            crate::auth::current(state, &crate::extract::meta(&req).stats, &principal, generation).await?;
            Auth::for_principal(&req, principal, generation)
        }
        _ => {
            use actix_web::FromRequest;
            Auth::extract(&req).await?
        }
    };
    let body = auth.read(activities::calendar).await?;
    Ok(HttpResponse::Ok().content_type("text/calendar; charset=utf-8").body(body))
}

/// A subscription URL for your calendar client.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarFeed {
    /// Path of the feed with its token; prefix it with this server's address.
    pub url: String,
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

/// Issue a calendar feed token (valid a year; it opens only `/activities.ics`).
#[utoipa::path(
    tag = "activities",
    operation_id = "getActivityCalendarFeed",
    responses((status = 200, description = "The feed URL", body = CalendarFeed))
)]
#[get("/activities/calendar-feed")]
pub async fn calendar_feed(auth: Auth) -> Result<HttpResponse, Problem> {
    auth.caller.require(ordo_core::Permission::PipelineRead)?;
    if auth.caller.principal.user_id().is_none() {
        return Err(ordo_core::DomainError::forbidden("calendar feeds are for users").into());
    }
    let (token, exp) = auth.db_state().jwt.issue_feed(&auth.caller.principal, auth.token_generation)?;
    Ok(HttpResponse::Ok().json(CalendarFeed {
        url: format!("/api/v1/activities.ics?token={token}"),
        token,
        expires_at: time::OffsetDateTime::from_unix_timestamp(exp).map_err(|_| Problem::internal())?,
    }))
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(calendar).service(calendar_feed);
    activity_docs::routes(cfg);
}
