//! The pipeline: leads (with conversion to a customer), pipeline stages and
//! opportunities with their stage history. An agent sees the leads they own and the
//! opportunities they own or that hang off their customers or leads.

use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::error::Checks;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, Currency, DomainError, Money, Page, PageRequest, Permission, Quantity, Rate, Result, Scope};
use ordo_db::audit::{self, Entry};
use ordo_db::crud::Record;
use ordo_db::schema::{
    campaigns, items, leads, opportunities, opportunity_items, opportunity_stage_changes, pipeline_stages, territories,
    users,
};
use ordo_db::{series, DbBackend, DbConnection};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::model::CustomerCreate;

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::PipelineRead)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::PipelineWrite)
}

/// Who owns a new lead or opportunity: an agent always themself; others may name an
/// active user (default themselves).
fn resolve_owner(conn: &mut DbConnection, caller: &Caller, requested: Option<i64>) -> Result<Option<i64>> {
    match (caller.scope(), requested) {
        (Scope::OwnCustomers(me), None) => Ok(Some(me)),
        (Scope::OwnCustomers(me), Some(o)) if o == me => Ok(Some(me)),
        (Scope::OwnCustomers(_), Some(_)) => {
            Err(DomainError::forbidden("sales agents cannot assign leads or opportunities to others"))
        }
        (Scope::All, None) => Ok(caller.principal.user_id()),
        (Scope::All, Some(o)) => {
            let active: Option<bool> = users::table.find(o).select(users::active).first(conn).optional()?;
            match active {
                Some(true) => Ok(Some(o)),
                Some(false) => Err(DomainError::field("owner_id", "inactive", format!("user {o} is deactivated"))),
                None => Err(DomainError::reference_not_found("user", "owner_id", o)),
            }
        }
    }
}

// ---- leads ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    Contacted,
    Qualified,
    Disqualified,
    /// Converted into a customer (and maybe an opportunity); read-only from then on.
    Converted,
}

impl LeadStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Disqualified => "disqualified",
            LeadStatus::Converted => "converted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::New, Self::Contacted, Self::Qualified, Self::Disqualified, Self::Converted]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A lead as written (also the shape PATCH merges into).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadCreate {
    /// The person; a lead needs a person or a company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub person_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(email)]
    #[schema(format = Email)]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    /// Where the lead came from, e.g. "web form", "trade fair".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<i64>,
    /// The user who works the lead; a sales agent's leads are always their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Lead {
    pub id: i64,
    /// From the `lead` number series.
    pub number: String,
    #[serde(flatten)]
    pub data: LeadCreate,
    pub status: LeadStatus,
    pub disqualified_reason: Option<String>,
    /// The customer the lead became (or was linked to) on conversion.
    pub customer_id: Option<i64>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub converted_at: Option<OffsetDateTime>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = leads, treat_none_as_null = true)]
pub struct LeadRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub person_name: Option<String>,
    pub company_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub source: Option<String>,
    pub campaign_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub status: String,
    pub disqualified_reason: Option<String>,
    pub notes: Option<String>,
    pub customer_id: Option<i64>,
    pub converted_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl LeadRow {
    fn apply(&mut self, c: &LeadCreate) {
        self.person_name = c.person_name.as_ref().map(|s| s.trim().to_string());
        self.company_name = c.company_name.as_ref().map(|s| s.trim().to_string());
        self.email = c.email.clone();
        self.phone = c.phone.clone();
        self.source = c.source.clone();
        self.campaign_id = c.campaign_id;
        self.territory_id = c.territory_id;
        self.owner_id = c.owner_id;
        self.notes = c.notes.clone();
    }
    pub fn to_create(&self) -> LeadCreate {
        LeadCreate {
            person_name: self.person_name.clone(),
            company_name: self.company_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            source: self.source.clone(),
            campaign_id: self.campaign_id,
            territory_id: self.territory_id,
            owner_id: self.owner_id,
            notes: self.notes.clone(),
        }
    }
    pub fn to_model(&self) -> Result<Lead> {
        Ok(Lead {
            id: self.id,
            number: self.number.clone(),
            data: self.to_create(),
            status: LeadStatus::parse(&self.status)
                .ok_or_else(|| DomainError::Internal(format!("lead {}: status {:?}", self.id, self.status)))?,
            disqualified_reason: self.disqualified_reason.clone(),
            customer_id: self.customer_id,
            converted_at: self.converted_at.map(|t| t.assume_utc()),
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

/// `POST /leads/{id}/disqualify`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// `POST /leads/{id}/convert`: link an existing customer or create one, and
/// optionally open an opportunity, in one transaction.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadConvert {
    /// Link this existing customer instead of creating one.
    pub customer_id: Option<i64>,
    /// The customer to create (name defaults to the company or person name).
    #[validate(nested)]
    pub customer: Option<LeadCustomer>,
    /// Open an opportunity for the customer too.
    #[validate(nested)]
    pub opportunity: Option<OpportunityCreate>,
}

/// The new customer of a conversion; contact data comes from the lead.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadCustomer {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub currency: Currency,
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeadConversion {
    pub lead: Lead,
    pub customer: crate::model::Customer,
    pub opportunity: Option<Opportunity>,
}

pub fn visible_leads<'a>(scope: Scope) -> leads::BoxedQuery<'a, DbBackend> {
    match scope {
        Scope::All => leads::table.into_boxed(),
        Scope::OwnCustomers(me) => leads::table.filter(leads::owner_id.eq(me)).into_boxed(),
    }
}

pub mod lead_service {
    use super::*;

    pub const ENTITY: &str = "lead";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub status: Option<LeadStatus>,
        pub owner_id: Option<i64>,
        pub campaign_id: Option<i64>,
    }

    pub fn find(conn: &mut DbConnection, scope: Scope, id: i64) -> Result<LeadRow> {
        visible_leads(scope)
            .filter(leads::id.eq(id))
            .select(LeadRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("lead", id))
    }

    fn check(conn: &mut DbConnection, c: &LeadCreate) -> Result<()> {
        let mut checks = Checks::new();
        checks.check(
            c.person_name.is_some() || c.company_name.is_some(),
            "person_name",
            "required",
            "a lead needs a person_name or a company_name",
        );
        checks.finish()?;
        ordo_db::require_opt_ref!(conn, campaigns, c.campaign_id, "campaign", "campaign_id");
        ordo_db::require_opt_ref!(conn, territories, c.territory_id, "territory", "territory_id");
        Ok(())
    }

    fn save(conn: &mut DbConnection, row: &LeadRow, expected: i64) -> Result<LeadRow> {
        ordo_db::save_versioned!(conn, leads, row, expected)
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, mut input: LeadCreate) -> Result<Lead> {
        write(caller)?;
        input.owner_id = resolve_owner(conn, caller, input.owner_id)?;
        check(conn, &input)?;
        let ts = now();
        let mut row = LeadRow {
            id: 0,
            number: series::next_number(conn, ENTITY)?,
            person_name: None,
            company_name: None,
            email: None,
            phone: None,
            source: None,
            campaign_id: None,
            territory_id: None,
            owner_id: None,
            status: LeadStatus::New.as_str().into(),
            disqualified_reason: None,
            notes: None,
            customer_id: None,
            converted_at: None,
            version: 1,
            created_at: ts,
            updated_at: ts,
        };
        row.apply(&input);
        let row: LeadRow =
            diesel::insert_into(leads::table).values(&row).returning(leads::all_columns).get_result(conn)?;
        let v = row.to_model()?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Lead>> {
        read(caller)?;
        let mut q = visible_leads(caller.scope()).select(LeadRow::as_select());
        if let Some(s) = f.status {
            q = q.filter(leads::status.eq(s.as_str()));
        }
        if let Some(o) = f.owner_id {
            q = q.filter(leads::owner_id.eq(o));
        }
        if let Some(c) = f.campaign_id {
            q = q.filter(leads::campaign_id.eq(c));
        }
        let rows = ordo_db::keyset_page!(conn, q, page, leads::id => |r: &LeadRow| r.id,
            "number" => leads::number: String = |r: &LeadRow| r.number.clone(),
            "created_at" => leads::created_at: PrimitiveDateTime = |r: &LeadRow| r.created_at,
            "updated_at" => leads::updated_at: PrimitiveDateTime = |r: &LeadRow| r.updated_at,
        );
        Ok(Page {
            data: rows.data.iter().map(LeadRow::to_model).collect::<Result<_>>()?,
            next_cursor: rows.next_cursor,
            total: rows.total,
        })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Lead> {
        read(caller)?;
        find(conn, caller.scope(), id)?.to_model()
    }

    fn open(row: &LeadRow) -> Result<()> {
        if row.status == LeadStatus::Converted.as_str() {
            return Err(DomainError::conflict("lead_converted", format!("lead {} is converted and read-only", row.id)));
        }
        Ok(())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: MergePatch,
    ) -> Result<Lead> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        open(&current)?;
        let mut next = patched(&current.to_create(), &p)?;
        if next.owner_id != current.owner_id {
            next.owner_id = resolve_owner(conn, caller, next.owner_id)?;
        }
        check(conn, &next)?;
        let mut row = current.clone();
        row.apply(&next);
        row.version += 1;
        row.updated_at = now();
        let saved = save(conn, &row, current.version)?.to_model()?;
        audit::record(
            conn,
            caller,
            ENTITY,
            id,
            "update",
            &audit::diff(&to_json(&current.to_model()?), &to_json(&saved)),
        )?;
        Ok(saved)
    }

    /// Moves the lead along `new → contacted → qualified | disqualified`.
    pub fn transition(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        to: LeadStatus,
        reason: Option<String>,
    ) -> Result<Lead> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        open(&current)?;
        let from = LeadStatus::parse(&current.status).unwrap_or(LeadStatus::New);
        let allowed = match to {
            LeadStatus::Contacted => from == LeadStatus::New,
            LeadStatus::Qualified => matches!(from, LeadStatus::New | LeadStatus::Contacted),
            LeadStatus::Disqualified => matches!(from, LeadStatus::New | LeadStatus::Contacted | LeadStatus::Qualified),
            _ => false,
        };
        if !allowed {
            return Err(DomainError::conflict(
                "invalid_transition",
                format!("a {} lead cannot become {}", from.as_str(), to.as_str()),
            ));
        }
        let mut row = current.clone();
        row.status = to.as_str().into();
        row.disqualified_reason = reason;
        row.version += 1;
        row.updated_at = now();
        let saved = save(conn, &row, current.version)?.to_model()?;
        audit::record(
            conn,
            caller,
            ENTITY,
            id,
            "update",
            &audit::diff(&to_json(&current.to_model()?), &to_json(&saved)),
        )?;
        Ok(saved)
    }

    pub fn convert(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        input: LeadConvert,
    ) -> Result<LeadConversion> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        if current.status == LeadStatus::Converted.as_str() {
            return Err(DomainError::conflict("lead_converted", format!("lead {id} is already converted")));
        }
        if current.status == LeadStatus::Disqualified.as_str() {
            return Err(DomainError::conflict("lead_disqualified", format!("lead {id} is disqualified")));
        }
        let customer = match (input.customer_id, input.customer) {
            (Some(_), Some(_)) => {
                return Err(DomainError::field("customer", "conflict", "give customer_id or customer, not both"))
            }
            (None, None) => {
                return Err(DomainError::field("customer", "required", "give customer_id or customer"));
            }
            (Some(cid), None) => {
                crate::scope::referenced_customer(conn, caller.scope(), "customer_id", cid)?.to_model()?
            }
            (None, Some(c)) => {
                let name = c
                    .name
                    .or_else(|| current.company_name.clone())
                    .or_else(|| current.person_name.clone())
                    .unwrap_or_else(|| current.number.clone());
                crate::service::create_customer(
                    conn,
                    caller,
                    CustomerCreate {
                        name,
                        legal_name: current.company_name.clone(),
                        tax_id: None,
                        email: current.email.clone(),
                        phone: current.phone.clone(),
                        billing_address: None,
                        shipping_address: None,
                        currency: c.currency,
                        payment_terms_days: c.payment_terms_days,
                        credit_limit: None,
                        parent_id: None,
                        owner_id: current.owner_id,
                        status: None,
                        tags: None,
                        attributes: None,
                        price_list_id: None,
                        tax_treatment: None,
                        discount_percent: None,
                        territory_id: current.territory_id,
                        customer_group_id: None,
                        sales_person_id: None,
                        sales_partner_id: None,
                        campaign_id: current.campaign_id,
                        contact_frequency_days: None,
                        default_warehouse_id: None,
                        invoicing_policy: None,
                        obligo_limit: None,
                        endpoint_id: None,
                        endpoint_scheme: None,
                        invoice_delivery: None,
                        e_invoice: None,
                    },
                )?
            }
        };
        let opportunity = match input.opportunity {
            Some(mut o) => {
                o.customer_id = Some(customer.id);
                o.lead_id = Some(id);
                o.owner_id = o.owner_id.or(current.owner_id);
                o.campaign_id = o.campaign_id.or(current.campaign_id);
                o.territory_id = o.territory_id.or(current.territory_id);
                Some(opportunity_service::create(conn, caller, o)?)
            }
            None => None,
        };
        let mut row = current.clone();
        row.status = LeadStatus::Converted.as_str().into();
        row.customer_id = Some(customer.id);
        row.converted_at = Some(now());
        row.version += 1;
        row.updated_at = now();
        let lead = save(conn, &row, current.version)?.to_model()?;
        audit::record(
            conn,
            caller,
            ENTITY,
            id,
            "convert",
            &serde_json::json!({"customer_id": customer.id, "opportunity_id": opportunity.as_ref().map(|o| o.id)}),
        )?;
        Ok(LeadConversion { lead, customer, opportunity })
    }

    pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Lead>> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        open(&current)?;
        diesel::delete(leads::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, caller.scope(), id)?;
        audit::history(conn, ENTITY, id, page)
    }
}

// ---- pipeline stages --------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineStageCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Order in the sales methodology (lower first).
    #[validate(range(min = 0, max = 1000))]
    #[schema(minimum = 0, maximum = 1000)]
    pub position: i32,
    /// Default win probability in percent for opportunities in this stage.
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub probability: Rate,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A stage of the company's sales methodology.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PipelineStage {
    pub id: i64,
    #[serde(flatten)]
    pub data: PipelineStageCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = pipeline_stages, treat_none_as_null = true)]
pub struct PipelineStageRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub position: i32,
    pub probability: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for PipelineStageRow {
    type Create = PipelineStageCreate;
    type Model = PipelineStage;
    fn from_create(id: i64, c: &PipelineStageCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        PipelineStageRow {
            id,
            name: c.name.trim().to_string(),
            position: c.position,
            probability: c.probability.to_scaled(),
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<PipelineStageCreate> {
        Ok(PipelineStageCreate {
            name: self.name.clone(),
            position: self.position,
            probability: Rate::from_scaled(self.probability),
            active: self.active,
        })
    }
    fn to_model(&self) -> Result<PipelineStage> {
        Ok(PipelineStage {
            id: self.id,
            data: self.to_create()?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

pub mod pipeline_stage_service {
    use super::*;
    use crate::team::{read, write};
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.active {
            Some(a) => q.filter(pipeline_stages::active.eq(a)),
            None => q,
        }
    }
    fn check(_conn: &mut DbConnection, _caller: &Caller, _c: &PipelineStageCreate, _id: Option<i64>) -> Result<()> {
        Ok(())
    }
    ordo_db::crud_service!(entity: "pipeline_stage", name: "pipeline stage", table: pipeline_stages, row: PipelineStageRow);
}

// ---- opportunities ----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    Open,
    Won,
    Lost,
}

impl OpportunityStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Won => "won",
            OpportunityStatus::Lost => "lost",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Won, Self::Lost].into_iter().find(|x| x.as_str() == s)
    }
}

/// An item the customer is interested in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityItem {
    pub item_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Estimated unit price in the opportunity's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub estimated_price: Option<Money>,
}

/// An opportunity as written (also the shape PATCH merges into).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpportunityCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// The customer, or (before conversion) the lead; at least one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<i64>,
    /// Default the caller; a sales agent's opportunities are always their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<i64>,
    /// Default: the first active stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_id: Option<i64>,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub amount: Money,
    pub currency: Currency,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub expected_close: Option<Date>,
    /// Win probability in percent; default the stage's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub probability: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default)]
    #[validate(length(max = 200), nested)]
    #[schema(max_items = 200)]
    pub items: Vec<OpportunityItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Opportunity {
    pub id: i64,
    #[serde(flatten)]
    pub data: OpportunityCreate,
    pub status: OpportunityStatus,
    /// The probability in force: the override, else the stage's default.
    pub effective_probability: Rate,
    /// amount × effective probability.
    pub weighted_amount: Money,
    pub lost_reason: Option<String>,
    pub competitor: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub stage_changed_at: OffsetDateTime,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<OffsetDateTime>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = opportunities, treat_none_as_null = true)]
pub struct OpportunityRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub title: String,
    pub customer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub stage_id: i64,
    pub amount: i64,
    pub currency: String,
    pub expected_close: Option<Date>,
    pub probability: Option<i64>,
    pub status: String,
    pub lost_reason: Option<String>,
    pub competitor: Option<String>,
    pub territory_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub stage_changed_at: PrimitiveDateTime,
    pub closed_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = opportunity_items)]
pub struct OpportunityItemRow {
    pub id: i64,
    pub opportunity_id: i64,
    pub item_id: i64,
    pub quantity: i64,
    pub estimated_price: Option<i64>,
}

impl OpportunityRow {
    fn apply(&mut self, c: &OpportunityCreate, stage_id: i64) {
        self.title = c.title.trim().to_string();
        self.customer_id = c.customer_id;
        self.lead_id = c.lead_id;
        self.owner_id = c.owner_id;
        self.stage_id = stage_id;
        self.amount = c.amount.to_scaled();
        self.currency = c.currency.code().into();
        self.expected_close = c.expected_close;
        self.probability = c.probability.map(|p| p.to_scaled());
        self.territory_id = c.territory_id;
        self.campaign_id = c.campaign_id;
    }
    fn to_create(&self, items: Vec<OpportunityItem>) -> Result<OpportunityCreate> {
        Ok(OpportunityCreate {
            title: self.title.clone(),
            customer_id: self.customer_id,
            lead_id: self.lead_id,
            owner_id: self.owner_id,
            stage_id: Some(self.stage_id),
            amount: Money::from_scaled(self.amount),
            currency: Currency::from_code(&self.currency)
                .ok_or_else(|| DomainError::Internal(format!("opportunity {}: currency", self.id)))?,
            expected_close: self.expected_close,
            probability: self.probability.map(Rate::from_scaled),
            territory_id: self.territory_id,
            campaign_id: self.campaign_id,
            items,
        })
    }
    /// The effective probability in percent, given the stage default.
    pub fn effective_probability(&self, stage_default: i64) -> Rate {
        Rate::from_scaled(self.probability.unwrap_or(stage_default))
    }
}

/// Opportunities the scope may see: an agent's own, or of their customers or leads.
pub fn visible_opportunities<'a>(scope: Scope) -> opportunities::BoxedQuery<'a, DbBackend> {
    match scope {
        Scope::All => opportunities::table.into_boxed(),
        Scope::OwnCustomers(me) => opportunities::table
            .filter(
                opportunities::owner_id
                    .eq(me)
                    .or(opportunities::customer_id.eq_any(crate::scope::own_customer_ids(me).nullable()))
                    .or(opportunities::lead_id
                        .eq_any(leads::table.filter(leads::owner_id.eq(me)).select(leads::id).nullable())),
            )
            .into_boxed(),
    }
}

/// One recorded stage change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageChange {
    pub id: i64,
    pub from_stage_id: Option<i64>,
    pub to_stage_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    /// `user:<id>` or `client:<id>`.
    pub changed_by: String,
}

/// `POST /opportunities/{id}/lose`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoseOpportunity {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    /// Who won instead.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub competitor: Option<String>,
}

pub mod opportunity_service {
    use super::*;

    pub const ENTITY: &str = "opportunity";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub status: Option<OpportunityStatus>,
        pub owner_id: Option<i64>,
        pub customer_id: Option<i64>,
        pub lead_id: Option<i64>,
        pub stage_id: Option<i64>,
    }

    pub fn find(conn: &mut DbConnection, scope: Scope, id: i64) -> Result<OpportunityRow> {
        visible_opportunities(scope)
            .filter(opportunities::id.eq(id))
            .select(OpportunityRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("opportunity", id))
    }

    /// Stage default probabilities (scaled) by stage id.
    fn stage_defaults(conn: &mut DbConnection, ids: &[i64]) -> Result<HashMap<i64, i64>> {
        Ok(pipeline_stages::table
            .filter(pipeline_stages::id.eq_any(ids))
            .select((pipeline_stages::id, pipeline_stages::probability))
            .load::<(i64, i64)>(conn)?
            .into_iter()
            .collect())
    }

    /// Loads the items of these opportunities in one query.
    pub fn items_of(conn: &mut DbConnection, ids: &[i64]) -> Result<HashMap<i64, Vec<OpportunityItem>>> {
        let rows: Vec<OpportunityItemRow> = opportunity_items::table
            .filter(opportunity_items::opportunity_id.eq_any(ids))
            .order(opportunity_items::id.asc())
            .select(OpportunityItemRow::as_select())
            .load(conn)?;
        let mut out: HashMap<i64, Vec<OpportunityItem>> = HashMap::new();
        for r in rows {
            out.entry(r.opportunity_id).or_default().push(OpportunityItem {
                item_id: r.item_id,
                quantity: Quantity::from_scaled(r.quantity),
                estimated_price: r.estimated_price.map(Money::from_scaled),
            });
        }
        Ok(out)
    }

    fn models(conn: &mut DbConnection, rows: &[OpportunityRow]) -> Result<Vec<Opportunity>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let stages: Vec<i64> = rows.iter().map(|r| r.stage_id).collect();
        let defaults = stage_defaults(conn, &stages)?;
        let mut items = items_of(conn, &ids)?;
        rows.iter()
            .map(|r| {
                let p = r.effective_probability(defaults.get(&r.stage_id).copied().unwrap_or(0));
                let amount = Money::from_scaled(r.amount);
                let weighted = Money::new(round_amount(amount.value() * p.value() / rust_decimal::Decimal::from(100)))
                    .map_err(|e| DomainError::Internal(e.to_string()))?;
                Ok(Opportunity {
                    id: r.id,
                    data: r.to_create(items.remove(&r.id).unwrap_or_default())?,
                    status: OpportunityStatus::parse(&r.status)
                        .ok_or_else(|| DomainError::Internal(format!("opportunity {}: status", r.id)))?,
                    effective_probability: p,
                    weighted_amount: weighted,
                    lost_reason: r.lost_reason.clone(),
                    competitor: r.competitor.clone(),
                    stage_changed_at: r.stage_changed_at.assume_utc(),
                    closed_at: r.closed_at.map(|t| t.assume_utc()),
                    version: r.version,
                    created_at: r.created_at.assume_utc(),
                    updated_at: r.updated_at.assume_utc(),
                })
            })
            .collect()
    }

    fn model(conn: &mut DbConnection, row: &OpportunityRow) -> Result<Opportunity> {
        Ok(models(conn, std::slice::from_ref(row))?.remove(0))
    }

    /// References and the rule "customer or lead"; returns the stage to use.
    fn check(
        conn: &mut DbConnection,
        caller: &Caller,
        c: &OpportunityCreate,
        current: Option<&OpportunityRow>,
    ) -> Result<i64> {
        if c.customer_id.is_none() && c.lead_id.is_none() {
            return Err(DomainError::field(
                "customer_id",
                "required",
                "an opportunity needs a customer_id or a lead_id",
            ));
        }
        if let Some(cid) = c.customer_id.filter(|v| current.is_none_or(|r| r.customer_id != Some(*v))) {
            crate::scope::referenced_customer(conn, caller.scope(), "customer_id", cid)?;
        }
        if let Some(lid) = c.lead_id.filter(|v| current.is_none_or(|r| r.lead_id != Some(*v))) {
            lead_service::find(conn, caller.scope(), lid)
                .map_err(|_| DomainError::reference_not_found("lead", "lead_id", lid))?;
        }
        ordo_db::require_opt_ref!(conn, territories, c.territory_id, "territory", "territory_id");
        ordo_db::require_opt_ref!(conn, campaigns, c.campaign_id, "campaign", "campaign_id");
        let item_ids: Vec<i64> = c.items.iter().map(|i| i.item_id).collect();
        if !item_ids.is_empty() {
            let found: Vec<i64> = items::table.filter(items::id.eq_any(&item_ids)).select(items::id).load(conn)?;
            if let Some((n, missing)) = item_ids.iter().enumerate().find(|(_, i)| !found.contains(i)) {
                return Err(DomainError::reference_not_found("item", &format!("items[{n}].item_id"), missing));
            }
        }
        match c.stage_id {
            Some(s) => {
                let active: Option<bool> =
                    pipeline_stages::table.find(s).select(pipeline_stages::active).first(conn).optional()?;
                match active {
                    None => Err(DomainError::reference_not_found("pipeline stage", "stage_id", s)),
                    Some(false) if current.is_none_or(|r| r.stage_id != s) => {
                        Err(DomainError::field("stage_id", "inactive", format!("pipeline stage {s} is inactive")))
                    }
                    Some(_) => Ok(s),
                }
            }
            None => pipeline_stages::table
                .filter(pipeline_stages::active.eq(true))
                .order((pipeline_stages::position.asc(), pipeline_stages::id.asc()))
                .select(pipeline_stages::id)
                .first(conn)
                .optional()?
                .ok_or_else(|| DomainError::rule("no_pipeline_stage", "define an active pipeline stage first")),
        }
    }

    fn write_items(conn: &mut DbConnection, id: i64, items: &[OpportunityItem]) -> Result<()> {
        // NULL rather than DEFAULT for None, so SQLite gets one multi-row INSERT.
        #[derive(Insertable)]
        #[diesel(table_name = opportunity_items, treat_none_as_default_value = false)]
        struct NewItem {
            opportunity_id: i64,
            item_id: i64,
            quantity: i64,
            estimated_price: Option<i64>,
        }
        diesel::delete(opportunity_items::table.filter(opportunity_items::opportunity_id.eq(id))).execute(conn)?;
        if !items.is_empty() {
            let rows: Vec<NewItem> = items
                .iter()
                .map(|i| NewItem {
                    opportunity_id: id,
                    item_id: i.item_id,
                    quantity: i.quantity.to_scaled(),
                    estimated_price: i.estimated_price.map(|m| m.to_scaled()),
                })
                .collect();
            ordo_db::insert_batch!(conn, opportunity_items::table, &rows);
        }
        Ok(())
    }

    fn record_stage(conn: &mut DbConnection, caller: &Caller, id: i64, from: Option<i64>, to: i64) -> Result<()> {
        diesel::insert_into(opportunity_stage_changes::table)
            .values((
                opportunity_stage_changes::opportunity_id.eq(id),
                opportunity_stage_changes::from_stage_id.eq(from),
                opportunity_stage_changes::to_stage_id.eq(to),
                opportunity_stage_changes::changed_at.eq(now()),
                opportunity_stage_changes::changed_by.eq(caller.principal.actor_key()),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, mut input: OpportunityCreate) -> Result<Opportunity> {
        write(caller)?;
        input.owner_id = resolve_owner(conn, caller, input.owner_id)?;
        let stage = check(conn, caller, &input, None)?;
        let ts = now();
        let mut row = OpportunityRow {
            id: 0,
            title: String::new(),
            customer_id: None,
            lead_id: None,
            owner_id: None,
            stage_id: stage,
            amount: 0,
            currency: String::new(),
            expected_close: None,
            probability: None,
            status: OpportunityStatus::Open.as_str().into(),
            lost_reason: None,
            competitor: None,
            territory_id: None,
            campaign_id: None,
            stage_changed_at: ts,
            closed_at: None,
            version: 1,
            created_at: ts,
            updated_at: ts,
        };
        row.apply(&input, stage);
        let row: OpportunityRow = diesel::insert_into(opportunities::table)
            .values(&row)
            .returning(opportunities::all_columns)
            .get_result(conn)?;
        write_items(conn, row.id, &input.items)?;
        record_stage(conn, caller, row.id, None, stage)?;
        let v = model(conn, &row)?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Opportunity>> {
        read(caller)?;
        let mut q = visible_opportunities(caller.scope()).select(OpportunityRow::as_select());
        if let Some(s) = f.status {
            q = q.filter(opportunities::status.eq(s.as_str()));
        }
        if let Some(o) = f.owner_id {
            q = q.filter(opportunities::owner_id.eq(o));
        }
        if let Some(c) = f.customer_id {
            q = q.filter(opportunities::customer_id.eq(c));
        }
        if let Some(l) = f.lead_id {
            q = q.filter(opportunities::lead_id.eq(l));
        }
        if let Some(s) = f.stage_id {
            q = q.filter(opportunities::stage_id.eq(s));
        }
        let rows = ordo_db::keyset_page!(conn, q, page, opportunities::id => |r: &OpportunityRow| r.id,
            "title" => opportunities::title: String = |r: &OpportunityRow| r.title.clone(),
            "amount" => opportunities::amount: i64 = |r: &OpportunityRow| r.amount,
            "stage_changed_at" => opportunities::stage_changed_at: PrimitiveDateTime = |r: &OpportunityRow| r.stage_changed_at,
            "created_at" => opportunities::created_at: PrimitiveDateTime = |r: &OpportunityRow| r.created_at,
            "updated_at" => opportunities::updated_at: PrimitiveDateTime = |r: &OpportunityRow| r.updated_at,
        );
        Ok(Page { data: models(conn, &rows.data)?, next_cursor: rows.next_cursor, total: rows.total })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Opportunity> {
        read(caller)?;
        let row = find(conn, caller.scope(), id)?;
        model(conn, &row)
    }

    fn save(conn: &mut DbConnection, row: &OpportunityRow, expected: i64) -> Result<OpportunityRow> {
        ordo_db::save_versioned!(conn, opportunities, row, expected)
    }

    fn open(row: &OpportunityRow) -> Result<()> {
        if row.status != OpportunityStatus::Open.as_str() {
            return Err(DomainError::conflict(
                "opportunity_closed",
                format!("opportunity {} is {} and read-only", row.id, row.status),
            ));
        }
        Ok(())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: MergePatch,
    ) -> Result<Opportunity> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        open(&current)?;
        let before = model(conn, &current)?;
        let mut next = patched(&before.data, &p)?;
        if next.owner_id != current.owner_id {
            next.owner_id = resolve_owner(conn, caller, next.owner_id)?;
        }
        let stage = check(conn, caller, &next, Some(&current))?;
        let mut row = current.clone();
        row.apply(&next, stage);
        if stage != current.stage_id {
            row.stage_changed_at = now();
            record_stage(conn, caller, id, Some(current.stage_id), stage)?;
        }
        row.version += 1;
        row.updated_at = now();
        let saved = save(conn, &row, current.version)?;
        if p.0.contains_key("items") {
            write_items(conn, id, &next.items)?;
        }
        let after = model(conn, &saved)?;
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&before), &to_json(&after)))?;
        Ok(after)
    }

    /// Closes the opportunity as won or lost.
    pub fn close(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        outcome: OpportunityStatus,
        lost: Option<LoseOpportunity>,
    ) -> Result<Opportunity> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        open(&current)?;
        let mut row = current.clone();
        row.status = outcome.as_str().into();
        if let Some(l) = lost {
            row.lost_reason = Some(l.reason);
            row.competitor = l.competitor;
        }
        row.closed_at = Some(now());
        row.version += 1;
        row.updated_at = now();
        let saved = save(conn, &row, current.version)?;
        let v = model(conn, &saved)?;
        audit::record(
            conn,
            caller,
            ENTITY,
            id,
            outcome.as_str(),
            &serde_json::json!({"status": outcome.as_str(), "lost_reason": v.lost_reason, "competitor": v.competitor}),
        )?;
        Ok(v)
    }

    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<Removal<Opportunity>> {
        let current = find(conn, caller.scope(), id)?;
        write(caller)?;
        check_version(if_match, current.version)?;
        let before = model(conn, &current)?;
        diesel::delete(opportunities::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&before))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, caller.scope(), id)?;
        audit::history(conn, ENTITY, id, page)
    }

    pub fn stage_changes(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        page: &PageRequest,
    ) -> Result<Page<StageChange>> {
        read(caller)?;
        find(conn, caller.scope(), id)?;
        let q = opportunity_stage_changes::table
            .filter(opportunity_stage_changes::opportunity_id.eq(id))
            .select((
                opportunity_stage_changes::id,
                opportunity_stage_changes::from_stage_id,
                opportunity_stage_changes::to_stage_id,
                opportunity_stage_changes::changed_at,
                opportunity_stage_changes::changed_by,
            ))
            .into_boxed();
        let rows: Vec<(i64, Option<i64>, i64, PrimitiveDateTime, String)> =
            ordo_db::keyset!(q, page, opportunity_stage_changes::id).load(conn)?;
        let rows = Page::from_rows(rows, page, |r| r.0);
        Ok(rows.map(|(id, from, to, at, by)| StageChange {
            id,
            from_stage_id: from,
            to_stage_id: to,
            changed_at: at.assume_utc(),
            changed_by: by,
        }))
    }
}

/// Rounds a computed amount to the storage scale, half away from zero.
fn round_amount(d: rust_decimal::Decimal) -> rust_decimal::Decimal {
    d.round_dp_with_strategy(Money::SCALE, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}
