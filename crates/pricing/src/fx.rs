//! Exchange rates as of a date: the latest rate on or before it, a direct rate or
//! else the inverse of the reverse one. Used by the price engine and by reports.

use diesel::prelude::*;
use ordo_core::{Currency, DomainError, Rate, Result};
use ordo_db::schema::exchange_rates;
use ordo_db::DbConnection;
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};
use time::Date;

use crate::engine::round_to;

/// (from, to) → rate, as of one date.
pub type FxTable = HashMap<(String, String), Rate>;

/// Loads the rates among `currencies` valid on `date` (one query; none for one currency).
pub fn load(conn: &mut DbConnection, currencies: &BTreeSet<String>, date: Date) -> Result<FxTable> {
    let mut fx = HashMap::new();
    if currencies.len() > 1 {
        let rows: Vec<(String, String, i64)> = exchange_rates::table
            .filter(exchange_rates::from_currency.eq_any(currencies))
            .filter(exchange_rates::to_currency.eq_any(currencies))
            .filter(exchange_rates::valid_from.le(date))
            .order(exchange_rates::valid_from.desc())
            .select((exchange_rates::from_currency, exchange_rates::to_currency, exchange_rates::rate))
            .load(conn)?;
        for (from, to, rate) in rows {
            fx.entry((from, to)).or_insert(Rate::from_scaled(rate));
        }
    }
    Ok(fx)
}

/// Units of `to` per unit of `from`; 422 `fx_rate_missing` when neither direction is known.
pub fn rate(fx: &FxTable, date: Date, from: Currency, to: Currency) -> Result<Decimal> {
    if from == to {
        return Ok(Decimal::ONE);
    }
    if let Some(r) = fx.get(&(from.code().to_string(), to.code().to_string())) {
        return Ok(r.value());
    }
    if let Some(r) = fx.get(&(to.code().to_string(), from.code().to_string())) {
        if !r.value().is_zero() {
            return Ok(round_to(Decimal::ONE / r.value(), Rate::SCALE));
        }
    }
    Err(DomainError::Rule {
        code: "fx_rate_missing",
        detail: format!("no exchange rate from {from} to {to} on or before {date}"),
        errors: vec![],
    })
}
