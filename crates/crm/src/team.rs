//! The sales organisation: territories (a tree), customer groups, sales persons (linked
//! to a user, with a manager), sales partners (resellers with a commission rate) and
//! campaigns. Configuration resources, patched in their create shape.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, Money, Permission, Rate, Result};
use ordo_db::schema::{campaigns, customer_groups, sales_partners, sales_persons, territories, users};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{Date, PrimitiveDateTime};
use validator::Validate;

pub(crate) fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesSetupRead)
}
pub(crate) fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesSetupWrite)
}

fn yes() -> bool {
    true
}

/// A parent chain must not loop back to `id`.
fn no_cycle(
    id: Option<i64>,
    start: i64,
    field: &str,
    mut parent_of: impl FnMut(i64) -> Result<Option<i64>>,
) -> Result<()> {
    if let Some(id) = id {
        if ordo_core::validate::ancestors(start, &mut parent_of)?.contains(&id) {
            return Err(DomainError::field(
                field,
                "cycle",
                format!("{start} is this record or one of its descendants"),
            ));
        }
    }
    Ok(())
}

// ---- territories ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerritoryCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The territory this one belongs to (territories form a tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
}
ordo_db::stored_model!(Territory, TerritoryCreate, "A sales territory.");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = territories, treat_none_as_null = true)]
pub struct TerritoryRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    TerritoryRow,
    TerritoryCreate,
    Territory,
    from | c,
    id,
    version,
    created_at
        | TerritoryRow {
            id,
            name: c.name.trim().to_string(),
            parent_id: c.parent_id,
            version,
            created_at,
            updated_at: created_at,
        },
    to | r | TerritoryCreate { name: r.name.clone(), parent_id: r.parent_id }
);

pub mod territory_service {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub parent_id: Option<i64>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.parent_id {
            Some(p) => q.filter(territories::parent_id.eq(p)),
            None => q,
        }
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &TerritoryCreate, id: Option<i64>) -> Result<()> {
        if let Some(p) = c.parent_id {
            ordo_db::require_ref!(conn, territories, p, "territory", "parent_id");
            no_cycle(id, p, "parent_id", |t| {
                Ok(territories::table.find(t).select(territories::parent_id).first(conn).optional()?.flatten())
            })?;
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "territory", name: "territory", table: territories, row: TerritoryRow);
}

// ---- customer groups --------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerGroupCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}
ordo_db::stored_model!(CustomerGroup, CustomerGroupCreate, "A customer group (segment), e.g. \"wholesale\".");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = customer_groups, treat_none_as_null = true)]
pub struct CustomerGroupRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    CustomerGroupRow,
    CustomerGroupCreate,
    CustomerGroup,
    from | c,
    id,
    version,
    created_at
        | CustomerGroupRow {
            id,
            name: c.name.trim().to_string(),
            description: c.description.clone(),
            version,
            created_at,
            updated_at: created_at,
        },
    to | r | CustomerGroupCreate { name: r.name.clone(), description: r.description.clone() }
);

pub mod customer_group_service {
    use super::*;
    pub type Filter = ();
    fn filter<'a>(q: Query<'a>, _f: &Filter) -> Query<'a> {
        q
    }
    fn check(_conn: &mut DbConnection, _caller: &Caller, _c: &CustomerGroupCreate, _id: Option<i64>) -> Result<()> {
        Ok(())
    }
    ordo_db::crud_service!(entity: "customer_group", name: "customer group", table: customer_groups, row: CustomerGroupRow);
}

// ---- sales persons ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesPersonCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The login of this sales person (at most one sales person per user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Their manager (another sales person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
}
ordo_db::stored_model!(SalesPerson, SalesPersonCreate, "A member of the sales team.");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sales_persons, treat_none_as_null = true)]
pub struct SalesPersonRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub user_id: Option<i64>,
    pub manager_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    SalesPersonRow,
    SalesPersonCreate,
    SalesPerson,
    from | c,
    id,
    version,
    created_at
        | SalesPersonRow {
            id,
            name: c.name.trim().to_string(),
            user_id: c.user_id,
            manager_id: c.manager_id,
            territory_id: c.territory_id,
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        },
    to | r
        | SalesPersonCreate {
            name: r.name.clone(),
            user_id: r.user_id,
            manager_id: r.manager_id,
            territory_id: r.territory_id,
            active: r.active,
        }
);

pub mod sales_person_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub manager_id: Option<i64>,
        pub territory_id: Option<i64>,
        pub active: Option<bool>,
    }
    fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
        if let Some(m) = f.manager_id {
            q = q.filter(sales_persons::manager_id.eq(m));
        }
        if let Some(t) = f.territory_id {
            q = q.filter(sales_persons::territory_id.eq(t));
        }
        if let Some(a) = f.active {
            q = q.filter(sales_persons::active.eq(a));
        }
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &SalesPersonCreate, id: Option<i64>) -> Result<()> {
        ordo_db::require_opt_ref!(conn, users, c.user_id, "user", "user_id");
        ordo_db::require_opt_ref!(conn, territories, c.territory_id, "territory", "territory_id");
        if let Some(m) = c.manager_id {
            ordo_db::require_ref!(conn, sales_persons, m, "sales person", "manager_id");
            no_cycle(id, m, "manager_id", |p| {
                Ok(sales_persons::table.find(p).select(sales_persons::manager_id).first(conn).optional()?.flatten())
            })?;
        }
        if let Some(u) = c.user_id {
            let taken: i64 = sales_persons::table
                .filter(sales_persons::user_id.eq(u))
                .filter(sales_persons::id.ne(id.unwrap_or(-1)))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(DomainError::conflict("duplicate_user", format!("user {u} is already a sales person")));
            }
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "sales_person", name: "sales person", table: sales_persons, row: SalesPersonRow);
}

// ---- sales partners ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesPartnerCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(email)]
    #[schema(format = Email)]
    pub email: Option<String>,
    /// Default commission in percent of the net sale.
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub commission_rate: Rate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
}
ordo_db::stored_model!(SalesPartner, SalesPartnerCreate, "An external reseller who sells on commission.");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sales_partners, treat_none_as_null = true)]
pub struct SalesPartnerRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub commission_rate: i64,
    pub territory_id: Option<i64>,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    SalesPartnerRow,
    SalesPartnerCreate,
    SalesPartner,
    from | c,
    id,
    version,
    created_at
        | SalesPartnerRow {
            id,
            name: c.name.trim().to_string(),
            email: c.email.clone(),
            commission_rate: c.commission_rate.to_scaled(),
            territory_id: c.territory_id,
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        },
    to | r
        | SalesPartnerCreate {
            name: r.name.clone(),
            email: r.email.clone(),
            commission_rate: Rate::from_scaled(r.commission_rate),
            territory_id: r.territory_id,
            active: r.active,
        }
);

pub mod sales_partner_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.active {
            Some(a) => q.filter(sales_partners::active.eq(a)),
            None => q,
        }
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &SalesPartnerCreate, _id: Option<i64>) -> Result<()> {
        ordo_db::require_opt_ref!(conn, territories, c.territory_id, "territory", "territory_id");
        Ok(())
    }
    ordo_db::crud_service!(entity: "sales_partner", name: "sales partner", table: sales_partners, row: SalesPartnerRow);
}

// ---- campaigns --------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The source code leads and documents quote (unique; pricing rules match it as `campaign_code`).
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub code: String,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub start_date: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub budget: Option<Money>,
    /// Currency of the budget; required with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default = "yes")]
    pub active: bool,
}
ordo_db::stored_model!(Campaign, CampaignCreate, "A marketing campaign that leads and documents are attributed to.");

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = campaigns, treat_none_as_null = true)]
pub struct CampaignRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub code: String,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub budget: Option<i64>,
    pub currency: Option<String>,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
ordo_db::record!(
    CampaignRow,
    CampaignCreate,
    Campaign,
    from | c,
    id,
    version,
    created_at
        | CampaignRow {
            id,
            name: c.name.trim().to_string(),
            code: c.code.clone(),
            start_date: c.start_date,
            end_date: c.end_date,
            budget: c.budget.map(|b| b.to_scaled()),
            currency: c.currency.map(|c| c.code().to_string()),
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        },
    to | r
        | CampaignCreate {
            name: r.name.clone(),
            code: r.code.clone(),
            start_date: r.start_date,
            end_date: r.end_date,
            budget: r.budget.map(Money::from_scaled),
            currency: r.currency.as_deref().and_then(Currency::from_code),
            active: r.active,
        }
);

pub mod campaign_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.active {
            Some(a) => q.filter(campaigns::active.eq(a)),
            None => q,
        }
    }
    fn check(_conn: &mut DbConnection, _caller: &Caller, c: &CampaignCreate, _id: Option<i64>) -> Result<()> {
        let mut checks = ordo_core::error::Checks::new();
        checks.check(
            !matches!((c.start_date, c.end_date), (Some(s), Some(e)) if e < s),
            "end_date",
            "before_start",
            "must not be before start_date",
        );
        checks.check(c.budget.is_none() || c.currency.is_some(), "currency", "required", "a budget needs a currency");
        checks.finish()
    }
    ordo_db::crud_service!(entity: "campaign", name: "campaign", table: campaigns, row: CampaignRow);
}
