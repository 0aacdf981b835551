//! Who is asking, what their roles allow, and which rows they may see.
//! The role → permission table lives here and nowhere else.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    SalesManager,
    SalesAgent,
    Warehouse,
    Accountant,
    ServiceAgent,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::SalesManager,
        Role::SalesAgent,
        Role::Warehouse,
        Role::Accountant,
        Role::ServiceAgent,
        Role::Viewer,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SalesManager => "sales_manager",
            Role::SalesAgent => "sales_agent",
            Role::Warehouse => "warehouse",
            Role::Accountant => "accountant",
            Role::ServiceAgent => "service_agent",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown role {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    CustomersRead,
    CustomersWrite,
    CustomersDelete,
    /// Assign a customer to any sales agent (agents may only keep their own).
    CustomersAssign,
    ItemsRead,
    ItemsWrite,
    ItemsDelete,
    UsersManage,
    ApiClientsManage,
    /// See price lists, prices, discounts, taxes, rates; price a basket.
    PricingRead,
    /// Maintain them.
    PricingWrite,
    /// See the sales team set-up: territories, customer groups, sales persons,
    /// partners, campaigns, pipeline stages, approval routes, checklists, number series.
    SalesSetupRead,
    /// Maintain that set-up.
    SalesSetupWrite,
    /// See leads, opportunities and activities (an agent: their own).
    PipelineRead,
    /// Create and work them.
    PipelineWrite,
    /// See quotations, sales orders and blanket orders (an agent: their customers').
    SalesDocsRead,
    /// Create and work them.
    SalesDocsWrite,
    /// Set a line price or discount by hand, overriding the price engine.
    PriceOverride,
    /// Call off more than a blanket order has left.
    BlanketOverride,
    /// Set a line's production state and actual cost (a planning system).
    ProductionUpdate,
    /// Pipeline, contact and demand reports (an agent: their own data).
    ReportsRead,
    /// See warehouses, stock balances, the ledger and reservations.
    StockRead,
    /// Post receipts, adjustments and transfers; maintain warehouses.
    StockWrite,
    /// Make, move and release reservations (an agent: for their customers).
    ReservationsWrite,
    /// Set what credit control and receivables work with: a customer's credit limit,
    /// payment terms, tax treatment and parent (group) customer.
    CreditManage,
    /// See invoices, credit notes, payments, statements and receivables (an agent:
    /// their customers').
    BillingRead,
    /// Make and post invoices and credit notes, record and allocate payments, run
    /// collection and commissions.
    BillingWrite,
    /// Let an order through a credit or obligo block, with a reason.
    CreditOverride,
    /// Read the event feed (`GET /events`; an agent: their customers' events).
    EventsRead,
    /// Manage webhook subscriptions and their deliveries.
    WebhooksManage,
    /// See service tickets, their comments and the service report (an agent: their
    /// customers').
    TicketsRead,
    /// Open a ticket and comment on it.
    TicketsOpen,
    /// Work tickets: change, assign, move through the stages, reopen, make a return.
    TicketsWork,
    /// Maintain the service desk: stages, categories, teams, SLA policies, scoring.
    ServiceSetupWrite,
    /// Authorise a return of shipped goods (an agent: for their customers).
    ReturnsWrite,
}

/// The one table of who may do what. Row-level scope (an agent's own customers)
/// is separate: see [`Scope`].
pub fn role_allows(role: Role, p: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin => true,
        Role::SalesManager => matches!(
            p,
            CustomersRead
                | CustomersWrite
                | CustomersDelete
                | CustomersAssign
                | ItemsRead
                | ItemsWrite
                | ItemsDelete
                | PricingRead
                | PricingWrite
                | SalesSetupRead
                | SalesSetupWrite
                | PipelineRead
                | PipelineWrite
                | SalesDocsRead
                | SalesDocsWrite
                | PriceOverride
                | BlanketOverride
                | ProductionUpdate
                | ReportsRead
                | StockRead
                | ReservationsWrite
                | CreditManage
                | BillingRead
                | CreditOverride
                | EventsRead
                | TicketsRead
                | TicketsOpen
                | TicketsWork
                | ServiceSetupWrite
                | ReturnsWrite
        ),
        Role::SalesAgent => matches!(
            p,
            CustomersRead
                | CustomersWrite
                | ItemsRead
                | PricingRead
                | SalesSetupRead
                | PipelineRead
                | PipelineWrite
                | SalesDocsRead
                | SalesDocsWrite
                | ReportsRead
                | StockRead
                | ReservationsWrite
                | BillingRead
                | EventsRead
                | TicketsRead
                | TicketsOpen
                | ReturnsWrite
        ),
        // The warehouse works from stock, deliveries and the money-free order views
        // (`/sales-orders/{id}/stock`, the completeness report): no documents, no prices.
        Role::Warehouse => matches!(
            p,
            CustomersRead
                | ItemsRead
                | ItemsWrite
                | SalesSetupRead
                | ProductionUpdate
                | StockRead
                | StockWrite
                | ReservationsWrite
                | ReturnsWrite
        ),
        Role::Accountant => matches!(
            p,
            CustomersRead
                | CustomersWrite
                | ItemsRead
                | PricingRead
                | SalesSetupRead
                | SalesDocsRead
                | ReportsRead
                | StockRead
                | CreditManage
                | BillingRead
                | BillingWrite
                | EventsRead
        ),
        Role::ServiceAgent => {
            matches!(
                p,
                CustomersRead
                    | ItemsRead
                    | PricingRead
                    | SalesSetupRead
                    | PipelineRead
                    | SalesDocsRead
                    | StockRead
                    | BillingRead
                    | TicketsRead
                    | TicketsOpen
                    | TicketsWork
                    | ReturnsWrite
            )
        }
        Role::Viewer => matches!(
            p,
            CustomersRead
                | ItemsRead
                | PricingRead
                | SalesSetupRead
                | PipelineRead
                | SalesDocsRead
                | ReportsRead
                | StockRead
                | BillingRead
                | TicketsRead
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ApiClient,
}

/// The authenticated caller, taken from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// users.id or api_clients.id
    pub id: i64,
    pub name: String,
    pub roles: Vec<Role>,
}

/// Which customers' rows a caller may see. Built from the principal once; every
/// repository query over customer-owned data takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// A sales agent: only customers whose owner is this user.
    OwnCustomers(i64),
}

impl Principal {
    pub fn has(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| role_allows(*r, p))
    }
    pub fn has_role(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }
    /// Sales agents are scoped unless another role of theirs sees everything.
    pub fn scope(&self) -> Scope {
        let unrestricted = self.roles.iter().any(|r| *r != Role::SalesAgent);
        if !unrestricted && self.kind == PrincipalKind::User {
            Scope::OwnCustomers(self.id)
        } else {
            Scope::All
        }
    }
    /// The actor label written into audit records and idempotency keys.
    pub fn actor_key(&self) -> String {
        match self.kind {
            PrincipalKind::User => format!("user:{}", self.id),
            PrincipalKind::ApiClient => format!("client:{}", self.id),
        }
    }
    pub fn user_id(&self) -> Option<i64> {
        (self.kind == PrincipalKind::User).then_some(self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(roles: Vec<Role>) -> Principal {
        Principal { kind: PrincipalKind::User, id: 7, name: "x".into(), roles }
    }

    #[test]
    fn agents_are_scoped_unless_they_have_a_wider_role() {
        assert_eq!(p(vec![Role::SalesAgent]).scope(), Scope::OwnCustomers(7));
        assert_eq!(p(vec![Role::SalesAgent, Role::SalesManager]).scope(), Scope::All);
        assert_eq!(p(vec![Role::Viewer]).scope(), Scope::All);
    }

    #[test]
    fn permissions() {
        assert!(p(vec![Role::Admin]).has(Permission::UsersManage));
        assert!(!p(vec![Role::SalesManager]).has(Permission::UsersManage));
        assert!(!p(vec![Role::Viewer]).has(Permission::CustomersWrite));
        assert!(!p(vec![Role::SalesAgent]).has(Permission::ItemsWrite));
        assert!("sales_agent".parse::<Role>().is_ok());
        assert!("boss".parse::<Role>().is_err());
    }
}

/// The principal of one request plus what the audit trail needs about it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub request_id: Option<String>,
}

impl Caller {
    /// The principal background jobs and runs act as (in audit records and activities).
    pub fn system() -> Caller {
        Caller {
            principal: Principal {
                kind: PrincipalKind::ApiClient,
                id: 0,
                name: "ordo (scheduled job)".into(),
                roles: vec![Role::Admin],
            },
            request_id: None,
        }
    }

    pub fn scope(&self) -> Scope {
        self.principal.scope()
    }
    pub fn has(&self, p: Permission) -> bool {
        self.principal.has(p)
    }
    pub fn require(&self, p: Permission) -> Result<(), crate::DomainError> {
        if self.has(p) {
            Ok(())
        } else {
            Err(crate::DomainError::forbidden(format!("your role does not allow {p:?}")))
        }
    }
    /// For bodies where some fields need more than the operation itself (a customer's
    /// price list needs the pricing permission): 403 naming every field given here
    /// whose permission the caller lacks.
    pub fn require_fields(&self, fields: &[(&str, Permission)]) -> Result<(), crate::DomainError> {
        let missing: Vec<crate::FieldError> = fields
            .iter()
            .filter(|(_, p)| !self.has(*p))
            .map(|(f, p)| crate::FieldError::new(*f, "forbidden", format!("changing it needs the {p:?} permission")))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.iter().map(|e| e.field.as_str()).collect();
        Err(crate::DomainError::Forbidden {
            detail: format!("your role may not set {}", names.join(", ")),
            errors: missing,
        })
    }
}
