//! Units of measure and per-item conversions: an item sold in `BOX` of 12 `PCS` has
//! an item unit `BOX` with factor 12 (base units per unit). Conversions are exact.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Quantity, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{customer_prices, item_prices, item_units, items, units};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::model::unit_code;

pub const UNIT: &str = "unit";
pub const ITEM_UNIT: &str = "item_unit";

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Unit {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// Decimal places a quantity in this unit may have (PCS 0, KG 3).
    pub decimals: i32,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitCreate {
    #[validate(custom(function = "unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub code: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    #[validate(range(min = 0, max = 4))]
    #[schema(minimum = 0, maximum = 4)]
    pub decimals: i32,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitPatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    #[validate(range(min = 0, max = 4))]
    #[schema(minimum = 0, maximum = 4)]
    pub decimals: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = units, treat_none_as_null = true)]
pub struct UnitRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub decimals: i32,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl UnitRow {
    pub fn to_model(&self) -> Unit {
        Unit {
            id: self.id,
            code: self.code.clone(),
            name: self.name.clone(),
            decimals: self.decimals,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

/// `factor` base units make one `unit` of the item.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemUnit {
    pub id: i64,
    pub item_id: i64,
    pub unit: String,
    pub factor: Quantity,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUnitCreate {
    #[validate(custom(function = "unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: String,
    /// Base units per this unit, > 0.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub factor: Quantity,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = item_units)]
pub struct ItemUnitRow {
    pub id: i64,
    pub item_id: i64,
    pub unit: String,
    pub factor: i64,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ItemUnitRow {
    pub fn to_model(&self) -> ItemUnit {
        ItemUnit {
            id: self.id,
            item_id: self.item_id,
            unit: self.unit.clone(),
            factor: Quantity::from_scaled(self.factor),
            version: self.version,
            created_at: self.created_at.assume_utc(),
        }
    }
}

/// A unit code referenced from a body must exist.
pub fn check_unit(conn: &mut DbConnection, field: &str, code: &str) -> Result<()> {
    let n: i64 = units::table.filter(units::code.eq(code)).count().get_result(conn)?;
    if n == 0 {
        return Err(DomainError::Validation(vec![ordo_core::FieldError::new(
            field,
            "unknown_unit",
            format!("unit {code:?} is not defined; see /api/v1/units"),
        )]));
    }
    Ok(())
}

fn find(conn: &mut DbConnection, id: i64) -> Result<UnitRow> {
    units::table
        .find(id)
        .select(UnitRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("unit", id))
}

pub mod unit_service {
    use super::*;

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: UnitCreate) -> Result<Unit> {
        caller.require(Permission::ItemsWrite)?;
        let ts = now();
        let row: UnitRow = diesel::insert_into(units::table)
            .values((
                units::code.eq(&input.code),
                units::name.eq(input.name.trim()),
                units::decimals.eq(input.decimals),
                units::version.eq(1),
                units::created_at.eq(ts),
                units::updated_at.eq(ts),
            ))
            .returning(units::all_columns)
            .get_result(conn)
            .map_err(ordo_core::error::unique_as("duplicate_code", "a unit with this code exists"))?;
        let v = row.to_model();
        audit::record(conn, caller, UNIT, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, _f: &(), page: &PageRequest) -> Result<Page<Unit>> {
        caller.require(Permission::ItemsRead)?;
        let q = units::table.select(UnitRow::as_select()).into_boxed();
        Ok(Page::from_rows(ordo_db::keyset!(q, page, units::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Unit> {
        caller.require(Permission::ItemsRead)?;
        Ok(find(conn, id)?.to_model())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: UnitPatch,
    ) -> Result<Unit> {
        caller.require(Permission::ItemsWrite)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        if let Some(v) = p.name {
            row.name = v.trim().to_string();
        }
        if let Some(v) = p.decimals {
            row.decimals = v;
        }
        row.version += 1;
        row.updated_at = now();
        let saved: UnitRow =
            diesel::update(units::table.filter(units::id.eq(id)).filter(units::version.eq(current.version)))
                .set(&row)
                .returning(units::all_columns)
                .get_result(conn)
                .optional()?
                .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(conn, caller, UNIT, id, "update", &audit::diff(&to_json(&current.to_model()), &to_json(&v)))?;
        Ok(v)
    }

    /// Units that items, conversions or prices use cannot be deleted.
    pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Unit>> {
        caller.require(Permission::ItemsDelete)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let code = current.code.clone();
        let used: i64 = items::table.filter(items::base_unit.eq(&code)).count().get_result::<i64>(conn)?
            + item_units::table.filter(item_units::unit.eq(&code)).count().get_result::<i64>(conn)?
            + item_prices::table.filter(item_prices::unit.eq(&code)).count().get_result::<i64>(conn)?
            + customer_prices::table.filter(customer_prices::unit.eq(&code)).count().get_result::<i64>(conn)?;
        if used > 0 {
            return Err(DomainError::conflict(
                "in_use",
                format!("unit {code} is used by items, conversions or prices"),
            ));
        }
        diesel::delete(units::table.find(id)).execute(conn)?;
        audit::record(conn, caller, UNIT, id, "delete", &to_json(&current.to_model()))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        caller.require(Permission::ItemsRead)?;
        find(conn, id)?;
        audit::history(conn, UNIT, id, page)
    }
}

/// Merge-patch for a conversion: its factor.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUnitPatch {
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub factor: Option<Quantity>,
}

pub mod item_unit_service {
    use super::*;

    fn find(conn: &mut DbConnection, item_id: i64, id: i64) -> Result<ItemUnitRow> {
        item_units::table
            .filter(item_units::id.eq(id))
            .filter(item_units::item_id.eq(item_id))
            .select(ItemUnitRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("item unit", id))
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        id: i64,
        if_match: Option<i64>,
        p: ItemUnitPatch,
    ) -> Result<ItemUnit> {
        caller.require(Permission::ItemsWrite)?;
        let current = find(conn, item_id, id)?;
        check_version(if_match, current.version)?;
        let factor = p.factor.map(|f| f.to_scaled()).unwrap_or(current.factor);
        let saved: ItemUnitRow = diesel::update(
            item_units::table.filter(item_units::id.eq(id)).filter(item_units::version.eq(current.version)),
        )
        .set((
            item_units::factor.eq(factor),
            item_units::version.eq(current.version + 1),
            item_units::updated_at.eq(now()),
        ))
        .returning(item_units::all_columns)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(
            conn,
            caller,
            ITEM_UNIT,
            id,
            "update",
            &audit::diff(&to_json(&current.to_model()), &to_json(&v)),
        )?;
        Ok(v)
    }

    pub fn history(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        id: i64,
        page: &PageRequest,
    ) -> Result<Page<Entry>> {
        caller.require(Permission::ItemsRead)?;
        find(conn, item_id, id)?;
        audit::history(conn, ITEM_UNIT, id, page)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, item_id: i64) -> Result<Vec<ItemUnit>> {
        caller.require(Permission::ItemsRead)?;
        crate::repo::find_item(conn, item_id)?;
        let rows: Vec<ItemUnitRow> = item_units::table
            .filter(item_units::item_id.eq(item_id))
            .select(ItemUnitRow::as_select())
            .order(item_units::id.asc())
            .load(conn)?;
        Ok(rows.iter().map(|r| r.to_model()).collect())
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, item_id: i64, input: ItemUnitCreate) -> Result<ItemUnit> {
        caller.require(Permission::ItemsWrite)?;
        let item = crate::repo::find_item(conn, item_id)?;
        check_unit(conn, "unit", &input.unit)?;
        if input.unit == item.base_unit {
            return Err(DomainError::field("unit", "base_unit", "the base unit converts to itself; add other units"));
        }
        let ts = now();
        let row: ItemUnitRow = diesel::insert_into(item_units::table)
            .values((
                item_units::item_id.eq(item_id),
                item_units::unit.eq(&input.unit),
                item_units::factor.eq(input.factor.to_scaled()),
                item_units::version.eq(1),
                item_units::created_at.eq(ts),
                item_units::updated_at.eq(ts),
            ))
            .returning(item_units::all_columns)
            .get_result(conn)
            .map_err(ordo_core::error::unique_as(
                "duplicate_unit",
                "the item already has a conversion for this unit",
            ))?;
        let v = row.to_model();
        audit::record(conn, caller, ITEM_UNIT, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn delete(conn: &mut DbConnection, caller: &Caller, item_id: i64, id: i64) -> Result<()> {
        caller.require(Permission::ItemsWrite)?;
        let row: ItemUnitRow = item_units::table
            .filter(item_units::id.eq(id))
            .filter(item_units::item_id.eq(item_id))
            .select(ItemUnitRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("item unit", id))?;
        diesel::delete(item_units::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ITEM_UNIT, id, "delete", &to_json(&row.to_model()))?;
        Ok(())
    }
}
