//! Suppliers and their purchase prices: the base of cost-plus price lists (a list
//! with `base_supplier_id` prices what it lacks at the supplier's price plus its
//! markup, converted at the date's exchange rate).

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, Money, Quantity, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{items, supplier_prices, suppliers};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::model::validity;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierCreate {
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub code: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
}

/// A company the goods are bought from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Supplier {
    pub id: i64,
    #[serde(flatten)]
    pub data: SupplierCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = suppliers, treat_none_as_null = true)]
pub struct SupplierRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub code: String,
    pub name: String,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for SupplierRow {
    type Create = SupplierCreate;
    type Model = Supplier;
    fn from_create(id: i64, c: &SupplierCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        SupplierRow {
            id,
            code: c.code.clone(),
            name: c.name.trim().to_string(),
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<SupplierCreate> {
        Ok(SupplierCreate { code: self.code.clone(), name: self.name.clone(), active: self.active })
    }
    fn to_model(&self) -> Result<Supplier> {
        Ok(Supplier {
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

pub mod supplier_service {
    use super::*;
    pub(crate) use crate::service::{read, write};

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.active {
            Some(a) => q.filter(suppliers::active.eq(a)),
            None => q,
        }
    }
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &SupplierCreate, id: Option<i64>) -> Result<()> {
        let taken: i64 = suppliers::table
            .filter(suppliers::code.eq(&c.code))
            .filter(suppliers::id.ne(id.unwrap_or(-1)))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DomainError::conflict("duplicate_code", format!("another supplier has the code {}", c.code)));
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "supplier", name: "supplier", table: suppliers, row: SupplierRow);
}

/// A supplier's purchase price for an item: per `unit`, in `currency`, from
/// `min_quantity` (tiers), valid between the dates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierPriceCreate {
    pub supplier_id: i64,
    pub item_id: i64,
    /// Default: the item's base unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_catalog::model::unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: Option<String>,
    pub currency: Currency,
    /// The purchase price per unit (4 decimals).
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub price: Money,
    /// The tier starts at this quantity; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub min_quantity: Option<Quantity>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SupplierPrice {
    pub id: i64,
    #[serde(flatten)]
    pub data: SupplierPriceCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = supplier_prices, treat_none_as_null = true)]
pub struct SupplierPriceRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub supplier_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub currency: String,
    pub price: i64,
    pub min_quantity: i64,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for SupplierPriceRow {
    type Create = SupplierPriceCreate;
    type Model = SupplierPrice;
    fn from_create(id: i64, c: &SupplierPriceCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        SupplierPriceRow {
            id,
            supplier_id: c.supplier_id,
            item_id: c.item_id,
            // `check` has filled in the base unit.
            unit: c.unit.clone().unwrap_or_default(),
            currency: c.currency.code().to_string(),
            price: c.price.to_scaled(),
            min_quantity: c.min_quantity.map(|q| q.to_scaled()).unwrap_or(0),
            valid_from: c.valid_from,
            valid_to: c.valid_to,
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<SupplierPriceCreate> {
        Ok(SupplierPriceCreate {
            supplier_id: self.supplier_id,
            item_id: self.item_id,
            unit: Some(self.unit.clone()),
            currency: Currency::from_code(&self.currency)
                .ok_or_else(|| DomainError::Internal(format!("supplier price {}: currency", self.id)))?,
            price: Money::from_scaled(self.price),
            min_quantity: Some(Quantity::from_scaled(self.min_quantity)),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        })
    }
    fn to_model(&self) -> Result<SupplierPrice> {
        Ok(SupplierPrice {
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

pub mod supplier_price_service {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub supplier_id: Option<i64>,
        pub item_id: Option<i64>,
    }

    mod generated {
        use super::*;
        pub(crate) use crate::service::{read, write};

        fn filter<'a>(mut q: Query<'a>, f: &Filter) -> Query<'a> {
            if let Some(s) = f.supplier_id {
                q = q.filter(supplier_prices::supplier_id.eq(s));
            }
            if let Some(i) = f.item_id {
                q = q.filter(supplier_prices::item_id.eq(i));
            }
            q
        }
        /// The supplier and the item must exist; the unit must be the item's base unit
        /// or one it converts from.
        fn check(conn: &mut DbConnection, _caller: &Caller, c: &SupplierPriceCreate, _id: Option<i64>) -> Result<()> {
            validity(c.valid_from, c.valid_to)?;
            let n: i64 = suppliers::table.find(c.supplier_id).count().get_result(conn)?;
            if n == 0 {
                return Err(DomainError::reference_not_found("supplier", "supplier_id", c.supplier_id));
            }
            let base: String = items::table
                .find(c.item_id)
                .select(items::base_unit)
                .first(conn)
                .optional()?
                .ok_or_else(|| DomainError::reference_not_found("item", "item_id", c.item_id))?;
            if let Some(u) = c.unit.as_ref().filter(|u| **u != base) {
                use ordo_db::schema::item_units;
                let known: i64 = item_units::table
                    .filter(item_units::item_id.eq(c.item_id))
                    .filter(item_units::unit.eq(u))
                    .count()
                    .get_result(conn)?;
                if known == 0 {
                    return Err(DomainError::field(
                        "unit",
                        "unknown_unit",
                        format!("item {} has no conversion to {u}; its base unit is {base}", c.item_id),
                    ));
                }
            }
            Ok(())
        }
        ordo_db::crud_service!(entity: "supplier_price", name: "supplier price", table: supplier_prices, row: SupplierPriceRow);
    }
    pub use generated::{delete, find, get, history, list, update, ENTITY};

    /// Creates the price; without a unit it is per the item's base unit.
    pub fn create(conn: &mut DbConnection, caller: &Caller, mut c: SupplierPriceCreate) -> Result<SupplierPrice> {
        if c.unit.is_none() {
            c.unit = items::table.find(c.item_id).select(items::base_unit).first(conn).optional()?;
        }
        generated::create(conn, caller, c)
    }
}
