//! Sales-document set-up: approval routes, quality checklist templates and number
//! series. Approval routes and checklists are chosen by the order's `order_type`.

use diesel::prelude::*;
use ordo_core::error::Checks;
use ordo_core::{Caller, DomainError, FieldError, Money, Permission, Rate, Result, Role};
use ordo_db::crud::Record;
use ordo_db::schema::{approval_routes, checklist_templates, number_series};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesSetupRead)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesSetupWrite)
}
fn yes() -> bool {
    true
}
fn standard() -> String {
    "standard".into()
}

/// When an approval stage applies to an order (evaluated on submit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageCondition {
    /// The order's gross total in the base currency is at least `amount`.
    TotalAtLeast { amount: Money },
    /// The order's discount is above `percent` of its undiscounted net.
    DiscountAbove { percent: Rate },
    /// The customer is blocked.
    CustomerBlocked,
    /// The customer has no earlier order that was approved.
    CustomerNew,
}

/// One stage of an approval route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStage {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The role that may pass the stage (admins may pass any).
    pub role: Role,
    /// Without a condition the stage always applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<StageCondition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRouteCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The order type the route is for (one route per type); default `standard`.
    #[serde(default = "standard")]
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub order_type: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// Passed in order; a stage whose condition does not hold is skipped.
    #[validate(length(min = 1, max = 20), nested)]
    #[schema(min_items = 1, max_items = 20)]
    pub stages: Vec<ApprovalStage>,
}

/// The stages a submitted order of `order_type` must pass.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApprovalRoute {
    pub id: i64,
    #[serde(flatten)]
    pub data: ApprovalRouteCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = approval_routes, treat_none_as_null = true)]
pub struct ApprovalRouteRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub order_type: String,
    pub active: bool,
    pub stages: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for ApprovalRouteRow {
    type Create = ApprovalRouteCreate;
    type Model = ApprovalRoute;
    fn from_create(id: i64, c: &ApprovalRouteCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        ApprovalRouteRow {
            id,
            name: c.name.trim().to_string(),
            order_type: c.order_type.clone(),
            active: c.active,
            stages: ordo_core::util::json_text(&c.stages),
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<ApprovalRouteCreate> {
        Ok(ApprovalRouteCreate {
            name: self.name.clone(),
            order_type: self.order_type.clone(),
            active: self.active,
            stages: serde_json::from_str(&self.stages)
                .map_err(|_| DomainError::Internal(format!("approval route {}: stages", self.id)))?,
        })
    }
    fn to_model(&self) -> Result<ApprovalRoute> {
        Ok(ApprovalRoute {
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

pub mod approval_route_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub order_type: Option<String>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match &f.order_type {
            Some(t) => q.filter(approval_routes::order_type.eq(t.clone())),
            None => q,
        }
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &ApprovalRouteCreate, id: Option<i64>) -> Result<()> {
        let mut checks = Checks::new();
        for (n, s) in c.stages.iter().enumerate() {
            match &s.condition {
                Some(StageCondition::TotalAtLeast { amount }) => {
                    checks.check(
                        !amount.is_negative(),
                        &format!("stages[{n}].condition.amount"),
                        "range",
                        "must not be negative",
                    );
                }
                Some(StageCondition::DiscountAbove { percent }) => {
                    checks.check(
                        ordo_core::validate::percent_0_100(percent).is_ok(),
                        &format!("stages[{n}].condition.percent"),
                        "range",
                        "must be between 0 and 100",
                    );
                }
                _ => {}
            }
        }
        checks.finish()?;
        let taken: i64 = approval_routes::table
            .filter(approval_routes::order_type.eq(&c.order_type))
            .filter(approval_routes::id.ne(id.unwrap_or(-1)))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::conflict(
                "duplicate_order_type",
                format!("order type {:?} already has an approval route", c.order_type),
            ));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "approval_route", name: "approval route", table: approval_routes, row: ApprovalRouteRow);

    /// The active route for an order type, if any.
    /// Every order's submit asks this, so the active routes are cached per process
    /// while none of them changes (`ordo_db::refcache`).
    pub fn for_order_type(conn: &mut DbConnection, order_type: &str) -> Result<Option<ApprovalRoute>> {
        struct Active(std::collections::HashMap<String, ApprovalRoute>);
        let active = ordo_db::refcache::get(conn, |conn| {
            let rows: Vec<ApprovalRouteRow> = approval_routes::table
                .filter(approval_routes::active.eq(true))
                .select(ApprovalRouteRow::as_select())
                .load(conn)?;
            rows.into_iter().map(|r| Ok((r.order_type.clone(), r.to_model()?))).collect::<Result<_>>().map(Active)
        })?;
        Ok(active.0.get(order_type).cloned())
    }
}

// ---- checklist templates ------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistPoint {
    /// What to agree with the customer, e.g. "delivery packaging agreed".
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub text: String,
    /// Required points must be ticked before the order is confirmed.
    #[serde(default = "yes")]
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistTemplateCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Orders of this type get the template's points (one template per type); default `standard`.
    #[serde(default = "standard")]
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub order_type: String,
    #[validate(length(min = 1, max = 50), nested)]
    #[schema(min_items = 1, max_items = 50)]
    pub points: Vec<ChecklistPoint>,
}

/// The quality checklist orders of one type are agreed against.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChecklistTemplate {
    pub id: i64,
    #[serde(flatten)]
    pub data: ChecklistTemplateCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = checklist_templates, treat_none_as_null = true)]
pub struct ChecklistTemplateRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub order_type: String,
    pub points: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for ChecklistTemplateRow {
    type Create = ChecklistTemplateCreate;
    type Model = ChecklistTemplate;
    fn from_create(id: i64, c: &ChecklistTemplateCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        ChecklistTemplateRow {
            id,
            name: c.name.trim().to_string(),
            order_type: c.order_type.clone(),
            points: ordo_core::util::json_text(&c.points),
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<ChecklistTemplateCreate> {
        Ok(ChecklistTemplateCreate {
            name: self.name.clone(),
            order_type: self.order_type.clone(),
            points: serde_json::from_str(&self.points)
                .map_err(|_| DomainError::Internal(format!("checklist template {}: points", self.id)))?,
        })
    }
    fn to_model(&self) -> Result<ChecklistTemplate> {
        Ok(ChecklistTemplate {
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

pub mod checklist_template_service {
    use super::*;
    pub type Filter = ();
    fn filter<'a>(q: Query<'a>, _f: &Filter) -> Query<'a> {
        q
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &ChecklistTemplateCreate, id: Option<i64>) -> Result<()> {
        let taken: i64 = checklist_templates::table
            .filter(checklist_templates::order_type.eq(&c.order_type))
            .filter(checklist_templates::id.ne(id.unwrap_or(-1)))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::conflict(
                "duplicate_order_type",
                format!("order type {:?} already has a checklist template", c.order_type),
            ));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "checklist_template", name: "checklist template", table: checklist_templates, row: ChecklistTemplateRow);

    /// Every order's creation asks this: the templates are cached like the routes.
    pub fn for_order_type(conn: &mut DbConnection, order_type: &str) -> Result<Vec<ChecklistPoint>> {
        struct Templates(std::collections::HashMap<String, Vec<ChecklistPoint>>);
        let templates = ordo_db::refcache::get(conn, |conn| {
            let rows: Vec<ChecklistTemplateRow> =
                checklist_templates::table.select(ChecklistTemplateRow::as_select()).load(conn)?;
            rows.into_iter()
                .map(|r| Ok((r.order_type.clone(), r.to_create()?.points)))
                .collect::<Result<_>>()
                .map(Templates)
        })?;
        Ok(templates.0.get(order_type).cloned().unwrap_or_default())
    }
}

// ---- number series ------------------------------------------------------------------

/// A document number series.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NumberSeries {
    /// `customer`, `lead`, `quotation`, `sales_order`, `blanket_order`, `delivery`,
    /// `return`, `invoice_draft`, `payment`, and the gap-free `invoice` and `credit_note`.
    pub code: String,
    /// `{YYYY}` is the year of issue, `{######}` the counter zero-padded to that width.
    pub pattern: String,
    /// The next counter value no document and no server process has taken yet (a
    /// series that need not be gap-free is handed to each process in blocks of 20, so
    /// the next document may get a lower number that its process holds).
    pub next_value: i64,
    /// What the next number will look like.
    pub preview: String,
    /// Numbered without gaps: the number is taken in the document's transaction, so a
    /// rolled-back document gives its number back, but writers of the series queue
    /// behind each other until commit. Off (the default outside billing), each server
    /// process takes blocks of 20 numbers (PostgreSQL: from a sequence that never
    /// waits) and hands them out without a statement: unique, increasing within a
    /// process, with a gap where a document was rolled back (PostgreSQL) or where a
    /// process stopped or the series was changed before its block was used up. The
    /// legal series (`invoice`, `credit_note`) are always
    /// gap-free, numbered per year when a document is posted; their `next_value` is
    /// this year's and cannot be moved.
    pub gap_free: bool,
}

/// `PATCH /number-series/{code}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberSeriesPatch {
    #[validate(length(min = 1, max = 50), custom(function = "valid_pattern"))]
    #[schema(min_length = 1, max_length = 50)]
    pub pattern: Option<String>,
    /// May only move forward, so no number is issued twice.
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub next_value: Option<i64>,
    /// See `NumberSeries.gap_free`; the legal series cannot be switched off (422).
    pub gap_free: Option<bool>,
}

fn valid_pattern(p: &str) -> Result<(), validator::ValidationError> {
    let has_counter = p.contains("{#") && p.contains("#}");
    if has_counter && p.chars().all(|c| !c.is_control()) {
        Ok(())
    } else {
        let mut e = validator::ValidationError::new("pattern");
        e.message = Some("must contain a counter like {######}".into());
        Err(e)
    }
}

pub mod number_series_service {
    use super::*;

    /// The series billing numbers without gaps, per year (`legal_counters`).
    pub const GAP_FREE: [&str; 2] = ["invoice", "credit_note"];

    /// The number the series gives next: this year's legal counter, the sequence's
    /// (PostgreSQL, not gap-free) or the counter row's.
    fn next_of(conn: &mut DbConnection, code: &str, gap_free: bool, counter: i64) -> Result<i64> {
        use ordo_db::schema::legal_counters;
        if GAP_FREE.contains(&code) {
            let year = ordo_core::time_util::now().year();
            return Ok(legal_counters::table
                .find((code, year))
                .select(legal_counters::next_value)
                .first(conn)
                .optional()?
                .unwrap_or(1));
        }
        if ordo_db::series::uses_sequence(conn, gap_free) {
            return ordo_db::series::sequence_next(conn, code);
        }
        Ok(counter)
    }

    fn model(
        conn: &mut DbConnection,
        code: String,
        pattern: String,
        counter: i64,
        gap_free: bool,
    ) -> Result<NumberSeries> {
        let next_value = next_of(conn, &code, gap_free, counter)?;
        let preview = ordo_db::series::format_number(&pattern, next_value, ordo_core::time_util::now().year());
        Ok(NumberSeries { code, pattern, next_value, preview, gap_free })
    }

    type Row = (String, String, i64, bool);

    pub fn list(conn: &mut DbConnection, caller: &Caller) -> Result<Vec<NumberSeries>> {
        read(caller)?;
        let rows: Vec<Row> = number_series::table
            .order(number_series::code.asc())
            .select((number_series::code, number_series::pattern, number_series::next_value, number_series::gap_free))
            .load(conn)?;
        rows.into_iter().map(|(c, p, n, g)| model(conn, c, p, n, g)).collect()
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        code: String,
        p: NumberSeriesPatch,
    ) -> Result<NumberSeries> {
        write(caller)?;
        let (_, pattern, counter, gap_free): Row = number_series::table
            .find(&code)
            .select((number_series::code, number_series::pattern, number_series::next_value, number_series::gap_free))
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("number series", &code))?;
        let legal = GAP_FREE.contains(&code.as_str());
        let mut errs = vec![];
        if p.next_value.is_some() && legal {
            errs.push(FieldError::new(
                "next_value",
                "gap_free",
                "a gap-free legal series is counted by posting only; its pattern may change",
            ));
        }
        if p.gap_free == Some(false) && legal {
            errs.push(FieldError::new(
                "gap_free",
                "legal",
                "invoices and credit notes are numbered without gaps by law",
            ));
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        let next = next_of(conn, &code, gap_free, counter)?;
        if let Some(n) = p.next_value {
            if n < next {
                return Err(DomainError::field(
                    "next_value",
                    "backwards",
                    format!("must not be below the current {next}: numbers would repeat"),
                ));
            }
        }
        let (pattern2, next2) = (p.pattern.unwrap_or(pattern.clone()), p.next_value.unwrap_or(next));
        let gap_free2 = p.gap_free.unwrap_or(gap_free);
        // Counter and sequence both stand at the next number, so switching `gap_free`
        // either way continues the series without repeating a number.
        diesel::update(number_series::table.find(&code))
            .set((
                number_series::pattern.eq(&pattern2),
                number_series::next_value.eq(if legal { counter } else { next2 }),
                number_series::gap_free.eq(gap_free2),
            ))
            .execute(conn)?;
        if !legal && matches!(conn, DbConnection::Pg(_)) {
            ordo_db::series::set_sequence_next(conn, &code, next2)?;
        }
        // Every process drops the numbers it holds of the series (`ordo_db::series`).
        ordo_db::refcache::bump(conn)?;
        ordo_db::audit::record(
            conn,
            caller,
            "number_series",
            0,
            "update",
            &serde_json::json!({"code": code, "pattern": {"from": pattern, "to": pattern2}, "next_value": {"from": next, "to": next2},
                "gap_free": {"from": gap_free, "to": gap_free2}}),
        )?;
        model(conn, code, pattern2, if legal { counter } else { next2 }, gap_free2)
    }
}
