//! The service desk's set-up resources: ticket categories (a classification tree),
//! service teams and SLA policies. Patched in their create shape.

use diesel::prelude::*;
use ordo_core::{Caller, DomainError, FieldError, Permission, Result};
use ordo_db::schema::{customer_groups, customers, service_teams, sla_policies, ticket_categories};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use validator::Validate;

use crate::settings::Priority;

pub(crate) fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::TicketsRead)
}
pub(crate) fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::ServiceSetupWrite)
}

fn yes() -> bool {
    true
}

// ---- categories --------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketCategoryCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The category this one refines (categories form a tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// Inactive categories stay on old tickets but take no new ones.
    #[serde(default = "yes")]
    pub active: bool,
}
ordo_db::stored_model!(TicketCategory, TicketCategoryCreate, "A ticket category (a node of the classification tree).");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ticket_categories, treat_none_as_null = true)]
pub struct TicketCategoryRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    TicketCategoryRow,
    TicketCategoryCreate,
    TicketCategory,
    from | c,
    id,
    version,
    created_at
        | TicketCategoryRow {
            id,
            name: c.name.trim().to_string(),
            parent_id: c.parent_id,
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        },
    to | r | TicketCategoryCreate { name: r.name.clone(), parent_id: r.parent_id, active: r.active }
);

pub mod category_service {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub parent_id: Option<i64>,
        pub active: Option<bool>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(p) = f.parent_id {
            q = q.filter(ticket_categories::parent_id.eq(p));
        }
        if let Some(a) = f.active {
            q = q.filter(ticket_categories::active.eq(a));
        }
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &TicketCategoryCreate, id: Option<i64>) -> Result<()> {
        if let Some(p) = c.parent_id {
            ordo_db::require_ref!(conn, ticket_categories, p, "ticket category", "parent_id");
            let chain = ordo_core::validate::ancestors(p, |t| -> Result<Option<i64>> {
                Ok(ticket_categories::table
                    .find(t)
                    .select(ticket_categories::parent_id)
                    .first(conn)
                    .optional()?
                    .flatten())
            })?;
            if id.is_some_and(|id| chain.contains(&id)) {
                return Err(DomainError::field(
                    "parent_id",
                    "cycle",
                    format!("{p} is this category or one of its children"),
                ));
            }
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "ticket_category", name: "ticket category", table: ticket_categories, row: TicketCategoryRow);
}

// ---- teams -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceTeamCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}
ordo_db::stored_model!(
    ServiceTeam,
    ServiceTeamCreate,
    "A service team (first line, field service, quality) that tickets are assigned to."
);

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = service_teams, treat_none_as_null = true)]
pub struct ServiceTeamRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    ServiceTeamRow,
    ServiceTeamCreate,
    ServiceTeam,
    from | c,
    id,
    version,
    created_at
        | ServiceTeamRow {
            id,
            name: c.name.trim().to_string(),
            description: c.description.clone(),
            version,
            created_at,
            updated_at: created_at,
        },
    to | r | ServiceTeamCreate { name: r.name.clone(), description: r.description.clone() }
);

pub mod team_service {
    use super::*;
    pub type Filter = ();
    fn filter<'a>(q: Query<'a>, _f: &Filter) -> Query<'a> {
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &ServiceTeamCreate, id: Option<i64>) -> Result<()> {
        let taken: i64 = service_teams::table
            .filter(service_teams::name.eq(c.name.trim()))
            .filter(service_teams::id.ne(id.unwrap_or(0)))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::conflict("duplicate", format!("a team is already named {:?}", c.name.trim())));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "service_team", name: "service team", table: service_teams, row: ServiceTeamRow);
}

// ---- SLA policies ------------------------------------------------------------------

/// When an escalation rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationLevel {
    AtRisk,
    Breached,
}

/// Which SLA target a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationTarget {
    FirstResponse,
    Resolution,
    #[default]
    Any,
}

/// What happens, once, when a ticket's target becomes at risk or is breached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRule {
    pub when: EscalationLevel,
    #[serde(default)]
    pub target: EscalationTarget,
    /// Emit the event `ticket.sla_at_risk` / `ticket.sla_breached` (webhooks, `/events`).
    #[serde(default = "yes")]
    pub notify: bool,
    /// Hand the ticket to this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_to_user_id: Option<i64>,
    /// Hand the ticket to this team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_to_team_id: Option<i64>,
    /// Raise the priority one step (critical stays critical).
    #[serde(default)]
    pub raise_priority: bool,
    /// E-mail the ticket's assignee (after any reassignment) through the outbox.
    #[serde(default)]
    pub email_assignee: bool,
    /// E-mail these addresses too (a service manager, a shared inbox).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(length(max = 10), custom(function = "email_addresses"))]
    #[schema(max_items = 10)]
    pub email_to: Vec<String>,
}

fn email_addresses(v: &[String]) -> std::result::Result<(), validator::ValidationError> {
    use validator::ValidateEmail;
    match v.iter().find(|a| !a.validate_email()) {
        None => Ok(()),
        Some(a) => {
            Err(validator::ValidationError::new("email").with_message(format!("{a} is not an e-mail address").into()))
        }
    }
}

fn positive_minutes(m: i32) -> std::result::Result<(), validator::ValidationError> {
    if (1..=525_600).contains(&m) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("range").with_message("a target is 1 to 525600 business minutes".into()))
    }
}

fn default_escalations() -> Vec<EscalationRule> {
    [EscalationLevel::AtRisk, EscalationLevel::Breached]
        .into_iter()
        .map(|when| EscalationRule {
            when,
            target: EscalationTarget::Any,
            notify: true,
            reassign_to_user_id: None,
            reassign_to_team_id: None,
            raise_priority: false,
            email_assignee: false,
            email_to: vec![],
        })
        .collect()
}

fn eighty() -> i32 {
    80
}

/// Contracted response times. A ticket gets the most specific active policy: one for
/// its customer before one for the customer's group before a general one; within
/// that, one for its priority before one for any priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_group_id: Option<i64>,
    /// Only tickets of this priority; none: any priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// First response within this many business minutes.
    #[validate(custom(function = "positive_minutes"))]
    #[schema(minimum = 1, maximum = 525600)]
    pub first_response_minutes: i32,
    /// Resolved within this many business minutes (not less than the first response).
    #[validate(custom(function = "positive_minutes"))]
    #[schema(minimum = 1, maximum = 525600)]
    pub resolution_minutes: i32,
    /// A target is at risk once this share of its time is used.
    #[serde(default = "eighty")]
    #[validate(range(min = 1, max = 99))]
    #[schema(minimum = 1, maximum = 99, default = 80)]
    pub at_risk_percent: i32,
    /// What happens when a target is at risk or breached; default: notify on both.
    #[serde(default = "default_escalations")]
    #[validate(length(max = 20), nested)]
    #[schema(max_items = 20)]
    pub escalations: Vec<EscalationRule>,
    #[serde(default = "yes")]
    pub active: bool,
}
ordo_db::stored_model!(
    SlaPolicy,
    SlaPolicyCreate,
    "A service level agreement: response and resolution targets in business minutes."
);

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sla_policies, treat_none_as_null = true)]
pub struct SlaPolicyRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub customer_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub priority: Option<String>,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub at_risk_percent: i32,
    pub escalations: String,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    SlaPolicyRow,
    SlaPolicyCreate,
    SlaPolicy,
    from | c,
    id,
    version,
    created_at
        | SlaPolicyRow {
            id,
            name: c.name.trim().to_string(),
            customer_id: c.customer_id,
            customer_group_id: c.customer_group_id,
            priority: c.priority.map(|p| p.as_str().to_string()),
            first_response_minutes: c.first_response_minutes,
            resolution_minutes: c.resolution_minutes,
            at_risk_percent: c.at_risk_percent,
            escalations: ordo_core::util::json_text(&c.escalations),
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        },
    to | r
        | SlaPolicyCreate {
            name: r.name.clone(),
            customer_id: r.customer_id,
            customer_group_id: r.customer_group_id,
            priority: r.priority.as_deref().map(Priority::parse),
            first_response_minutes: r.first_response_minutes,
            resolution_minutes: r.resolution_minutes,
            at_risk_percent: r.at_risk_percent,
            escalations: r.rules(),
            active: r.active,
        }
);

impl SlaPolicyRow {
    pub fn rules(&self) -> Vec<EscalationRule> {
        serde_json::from_str(&self.escalations).unwrap_or_default()
    }
    /// How specific the policy is for a ticket (higher wins), or `None` if it does not apply.
    pub fn rank(&self, customer_id: i64, customer_group_id: Option<i64>, priority: Priority) -> Option<u8> {
        if !self.active {
            return None;
        }
        let who = match (self.customer_id, self.customer_group_id) {
            (Some(c), _) if c == customer_id => 2,
            (Some(_), _) => return None,
            (None, Some(g)) if Some(g) == customer_group_id => 1,
            (None, Some(_)) => return None,
            (None, None) => 0,
        };
        let prio = match self.priority.as_deref() {
            Some(p) if p == priority.as_str() => 1,
            Some(_) => return None,
            None => 0,
        };
        Some(who * 2 + prio)
    }
}

pub mod sla_policy_service {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub customer_id: Option<i64>,
        pub customer_group_id: Option<i64>,
        pub active: Option<bool>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(c) = f.customer_id {
            q = q.filter(sla_policies::customer_id.eq(c));
        }
        if let Some(g) = f.customer_group_id {
            q = q.filter(sla_policies::customer_group_id.eq(g));
        }
        if let Some(a) = f.active {
            q = q.filter(sla_policies::active.eq(a));
        }
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &SlaPolicyCreate, id: Option<i64>) -> Result<()> {
        let mut errs = vec![];
        if c.resolution_minutes < c.first_response_minutes {
            errs.push(FieldError::new(
                "resolution_minutes",
                "less_than_first_response",
                "resolution cannot be due before the first response",
            ));
        }
        if c.customer_id.is_some() && c.customer_group_id.is_some() {
            errs.push(FieldError::new("customer_group_id", "conflict", "a policy is for one customer or one group"));
        }
        for (n, r) in c.escalations.iter().enumerate() {
            if r.reassign_to_user_id.is_some() && r.reassign_to_team_id.is_some() {
                errs.push(FieldError::new(
                    format!("escalations[{n}].reassign_to_team_id"),
                    "conflict",
                    "reassign to a user or to a team",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        ordo_db::require_opt_ref!(conn, customers, c.customer_id, "customer", "customer_id");
        ordo_db::require_opt_ref!(conn, customer_groups, c.customer_group_id, "customer group", "customer_group_id");
        for (n, r) in c.escalations.iter().enumerate() {
            if let Some(u) = r.reassign_to_user_id {
                crate::tickets::require_user(conn, u, &format!("escalations[{n}].reassign_to_user_id"))?;
            }
            ordo_db::require_opt_ref!(
                conn,
                service_teams,
                r.reassign_to_team_id,
                "service team",
                &format!("escalations[{n}].reassign_to_team_id")
            );
        }
        // Two active policies for the same customer/group and priority would make the
        // choice arbitrary.
        if c.active {
            let mut q = sla_policies::table
                .filter(sla_policies::active.eq(true))
                .filter(sla_policies::id.ne(id.unwrap_or(0)))
                .select(sla_policies::id)
                .into_boxed();
            q = match c.customer_id {
                Some(v) => q.filter(sla_policies::customer_id.eq(v)),
                None => q.filter(sla_policies::customer_id.is_null()),
            };
            q = match c.customer_group_id {
                Some(v) => q.filter(sla_policies::customer_group_id.eq(v)),
                None => q.filter(sla_policies::customer_group_id.is_null()),
            };
            q = match c.priority {
                Some(p) => q.filter(sla_policies::priority.eq(p.as_str())),
                None => q.filter(sla_policies::priority.is_null()),
            };
            if let Some(other) = q.first::<i64>(conn).optional()? {
                return Err(DomainError::conflict(
                    "duplicate",
                    format!("active SLA policy {other} already covers the same customer, group and priority"),
                ));
            }
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "sla_policy", name: "SLA policy", table: sla_policies, row: SlaPolicyRow);
}
