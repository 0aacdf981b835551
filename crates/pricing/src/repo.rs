//! Diesel rows for pricing tables and their conversions.

use diesel::prelude::*;
use ordo_core::{Currency, DomainError, Money, Quantity, Rate, Result};
use ordo_db::schema::{customer_prices, exchange_rates, group_discounts, item_prices, price_lists, tax_rates};
use time::{Date, PrimitiveDateTime};

use crate::model::*;

fn currency(code: &str, what: &str) -> Result<Currency> {
    Currency::from_code(code)
        .ok_or_else(|| DomainError::Internal(format!("stored {what} currency {code:?} is unknown")))
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = exchange_rates, treat_none_as_null = true)]
pub struct ExchangeRateRow {
    pub id: i64,
    pub from_currency: String,
    pub to_currency: String,
    pub rate: i64,
    pub valid_from: Date,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = exchange_rates)]
pub struct NewExchangeRate {
    pub from_currency: String,
    pub to_currency: String,
    pub rate: i64,
    pub valid_from: Date,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ExchangeRateRow {
    pub fn to_model(&self) -> Result<ExchangeRate> {
        Ok(ExchangeRate {
            id: self.id,
            from_currency: currency(&self.from_currency, "exchange rate")?,
            to_currency: currency(&self.to_currency, "exchange rate")?,
            rate: Rate::from_scaled(self.rate),
            valid_from: self.valid_from,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = tax_rates, treat_none_as_null = true)]
pub struct TaxRateRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub percent: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tax_rates)]
pub struct NewTaxRate {
    pub code: String,
    pub name: String,
    pub percent: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl TaxRateRow {
    pub fn to_model(&self) -> TaxRate {
        TaxRate {
            id: self.id,
            code: self.code.clone(),
            name: self.name.clone(),
            percent: Rate::from_scaled(self.percent),
            active: self.active,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = price_lists, treat_none_as_null = true)]
pub struct PriceListRow {
    pub id: i64,
    pub name: String,
    pub currency: String,
    pub prices_include_tax: bool,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub base_price_list_id: Option<i64>,
    pub markup_percent: Option<i64>,
    pub active: bool,
    pub is_default: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub base_supplier_id: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = price_lists)]
pub struct NewPriceList {
    pub name: String,
    pub currency: String,
    pub prices_include_tax: bool,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub base_price_list_id: Option<i64>,
    pub markup_percent: Option<i64>,
    pub active: bool,
    pub is_default: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub base_supplier_id: Option<i64>,
}

impl PriceListRow {
    pub fn to_model(&self) -> Result<PriceList> {
        Ok(PriceList {
            id: self.id,
            name: self.name.clone(),
            currency: currency(&self.currency, "price list")?,
            prices_include_tax: self.prices_include_tax,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            base_price_list_id: self.base_price_list_id,
            base_supplier_id: self.base_supplier_id,
            markup_percent: self.markup_percent.map(Rate::from_scaled),
            active: self.active,
            is_default: self.is_default,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = item_prices, treat_none_as_null = true)]
pub struct ItemPriceRow {
    pub id: i64,
    pub price_list_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub price: i64,
    pub min_quantity: i64,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = item_prices)]
pub struct NewItemPrice {
    pub price_list_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub price: i64,
    pub min_quantity: i64,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ItemPriceRow {
    pub fn to_model(&self) -> ItemPrice {
        ItemPrice {
            id: self.id,
            price_list_id: self.price_list_id,
            item_id: self.item_id,
            unit: self.unit.clone(),
            price: Money::from_scaled(self.price),
            min_quantity: Quantity::from_scaled(self.min_quantity),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = customer_prices, treat_none_as_null = true)]
pub struct CustomerPriceRow {
    pub id: i64,
    pub customer_id: i64,
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

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = customer_prices)]
pub struct NewCustomerPrice {
    pub customer_id: i64,
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

impl CustomerPriceRow {
    pub fn to_model(&self) -> Result<CustomerPrice> {
        Ok(CustomerPrice {
            id: self.id,
            customer_id: self.customer_id,
            item_id: self.item_id,
            unit: self.unit.clone(),
            currency: currency(&self.currency, "customer price")?,
            price: Money::from_scaled(self.price),
            min_quantity: Quantity::from_scaled(self.min_quantity),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = group_discounts, treat_none_as_null = true)]
pub struct GroupDiscountRow {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub item_group_id: i64,
    pub percent: i64,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = group_discounts)]
pub struct NewGroupDiscount {
    pub customer_id: Option<i64>,
    pub item_group_id: i64,
    pub percent: i64,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl GroupDiscountRow {
    pub fn to_model(&self) -> GroupDiscount {
        GroupDiscount {
            id: self.id,
            customer_id: self.customer_id,
            item_group_id: self.item_group_id,
            percent: Rate::from_scaled(self.percent),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

/// Two validity ranges (inclusive, open-ended when None) overlap.
pub fn overlaps(a: (Option<Date>, Option<Date>), b: (Option<Date>, Option<Date>)) -> bool {
    let starts_before_end = |start: Option<Date>, end: Option<Date>| match (start, end) {
        (Some(s), Some(e)) => s <= e,
        _ => true,
    };
    starts_before_end(a.0, b.1) && starts_before_end(b.0, a.1)
}

pub use ordo_core::error::unique_as;

pub fn find_price_list(conn: &mut ordo_db::DbConnection, id: i64) -> Result<PriceListRow> {
    price_lists::table
        .find(id)
        .select(PriceListRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("price list", id))
}

#[cfg(test)]
mod tests {
    use super::overlaps;
    use time::macros::date;

    #[test]
    fn validity_overlap() {
        let d = |y, m, dd| Some(time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), dd).unwrap());
        assert!(overlaps((None, None), (None, None)));
        assert!(overlaps((d(2026, 1, 1), d(2026, 1, 31)), (d(2026, 1, 31), None)));
        assert!(!overlaps((d(2026, 1, 1), d(2026, 1, 30)), (d(2026, 1, 31), None)));
        assert!(!overlaps((None, Some(date!(2025 - 12 - 31))), (d(2026, 1, 1), None)));
    }
}
