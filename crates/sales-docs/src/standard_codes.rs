//! Standard sales codes (Business Central's "Standard Sales Codes"): named sets of
//! lines — item, quantity, optionally a fixed price and a description — inserted into
//! any quotation, order, blanket order or invoice in one step. A code with prices is
//! maintained under the pricing permission, so the prices it carries stand on the
//! documents without a per-user override.

use diesel::prelude::*;
use ordo_core::error::Checks;
use ordo_core::{Caller, DomainError, Money, Permission, Quantity, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{items, standard_sales_codes};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::lines::LineInput;

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesDocsRead)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::SalesSetupWrite)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardLine {
    pub item_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Default: the item's base unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_catalog::model::unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: Option<String>,
    /// A fixed net unit price instead of the price engine's (needs `pricing` write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardCodeCreate {
    /// What users type, e.g. `OFFICE-KIT`.
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub code: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(min = 1, max = 200), nested)]
    #[schema(min_items = 1, max_items = 200)]
    pub lines: Vec<StandardLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StandardCode {
    pub id: i64,
    #[serde(flatten)]
    pub data: StandardCodeCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = standard_sales_codes, treat_none_as_null = true)]
pub struct StandardCodeRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub code: String,
    pub name: String,
    pub lines: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for StandardCodeRow {
    type Create = StandardCodeCreate;
    type Model = StandardCode;
    fn from_create(id: i64, c: &StandardCodeCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        StandardCodeRow {
            id,
            code: c.code.clone(),
            name: c.name.trim().to_string(),
            lines: ordo_core::util::json_text(&c.lines),
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<StandardCodeCreate> {
        Ok(StandardCodeCreate {
            code: self.code.clone(),
            name: self.name.clone(),
            lines: serde_json::from_str(&self.lines)
                .map_err(|_| DomainError::Internal(format!("standard sales code {}: lines", self.id)))?,
        })
    }
    fn to_model(&self) -> Result<StandardCode> {
        Ok(StandardCode {
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

pub mod service {
    use super::*;
    pub type Filter = ();
    fn filter<'a>(q: Query<'a>, _f: &Filter) -> Query<'a> {
        q
    }
    fn check(conn: &mut DbConnection, caller: &Caller, c: &StandardCodeCreate, id: Option<i64>) -> Result<()> {
        if c.lines.iter().any(|l| l.price.is_some()) {
            caller.require_fields(&[("lines", Permission::PricingWrite)])?;
        }
        let ids: Vec<i64> = c.lines.iter().map(|l| l.item_id).collect();
        let found: Vec<i64> = items::table.filter(items::id.eq_any(&ids)).select(items::id).load(conn)?;
        let mut checks = Checks::new();
        for (n, l) in c.lines.iter().enumerate() {
            checks.check(found.contains(&l.item_id), &format!("lines[{n}].item_id"), "not_found", "no such item");
        }
        checks.finish()?;
        let taken: i64 = standard_sales_codes::table
            .filter(standard_sales_codes::code.eq(&c.code))
            .filter(standard_sales_codes::id.ne(id.unwrap_or(-1)))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::conflict("duplicate_code", format!("standard sales code {:?} exists", c.code)));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "standard_sales_code", name: "standard sales code", table: standard_sales_codes, row: StandardCodeRow);
}

/// `POST /{documents}/{id}/lines/from-standard-code`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromStandardCode {
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub code: String,
}

/// The code's lines as document lines (422 naming `code` when there is no such code).
pub fn lines_of(conn: &mut DbConnection, code: &str) -> Result<Vec<LineInput>> {
    let row: Option<StandardCodeRow> = standard_sales_codes::table
        .filter(standard_sales_codes::code.eq(code))
        .select(StandardCodeRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Err(DomainError::reference_not_found("standard sales code", "code", code));
    };
    Ok(row
        .to_create()?
        .lines
        .into_iter()
        .map(|l| LineInput {
            item_id: l.item_id,
            description: l.description,
            quantity: l.quantity,
            unit: l.unit,
            options: BTreeMap::new(),
            components: vec![],
            requested_date: None,
            override_reason: l.price.map(|_| format!("standard sales code {code}")),
            manual_price: l.price,
            manual_discount_percent: None,
            blanket_line_id: None,
            warehouse_id: None,
        })
        .collect())
}
