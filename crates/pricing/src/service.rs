//! Pricing use cases: one module per resource with the same six functions
//! (create, list, get, update, delete, history), plus the price engine's loader.

use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::DbConnection;

pub(crate) fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::PricingRead)
}
pub(crate) fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::PricingWrite)
}

fn history_of(conn: &mut DbConnection, entity: &str, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    audit::history(conn, entity, id, page)
}

pub mod exchange_rates {
    use super::*;
    use crate::model::*;
    use crate::repo::*;
    use diesel::prelude::*;
    use ordo_core::Currency;
    use ordo_db::schema::exchange_rates as t;

    pub const ENTITY: &str = "exchange_rate";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub from_currency: Option<Currency>,
        pub to_currency: Option<Currency>,
    }

    fn find(conn: &mut DbConnection, id: i64) -> Result<ExchangeRateRow> {
        t::table
            .find(id)
            .select(ExchangeRateRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("exchange rate", id))
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: ExchangeRateCreate) -> Result<ExchangeRate> {
        write(caller)?;
        if input.from_currency == input.to_currency {
            return Err(DomainError::field("to_currency", "same_currency", "must differ from from_currency"));
        }
        let ts = now();
        let row: ExchangeRateRow = diesel::insert_into(t::table)
            .values(NewExchangeRate {
                from_currency: input.from_currency.code().into(),
                to_currency: input.to_currency.code().into(),
                rate: input.rate.to_scaled(),
                valid_from: input.valid_from,
                version: 1,
                created_at: ts,
                updated_at: ts,
            })
            .returning(t::all_columns)
            .get_result(conn)
            .map_err(unique_as("duplicate_rate", "a rate for this currency pair and date exists"))?;
        let v = row.to_model()?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(
        conn: &mut DbConnection,
        caller: &Caller,
        f: &Filter,
        page: &PageRequest,
    ) -> Result<Page<ExchangeRate>> {
        read(caller)?;
        let mut q = t::table.select(ExchangeRateRow::as_select()).into_boxed();
        if let Some(c) = f.from_currency {
            q = q.filter(t::from_currency.eq(c.code()));
        }
        if let Some(c) = f.to_currency {
            q = q.filter(t::to_currency.eq(c.code()));
        }
        let rows = Page::from_rows(ordo_db::keyset!(q, page, t::id).load(conn)?, page, |r| r.id);
        Ok(Page {
            data: rows.data.iter().map(|r| r.to_model()).collect::<Result<_>>()?,
            next_cursor: rows.next_cursor,
            total: rows.total,
        })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ExchangeRate> {
        read(caller)?;
        find(conn, id)?.to_model()
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: ExchangeRatePatch,
    ) -> Result<ExchangeRate> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        if let Some(r) = p.rate {
            row.rate = r.to_scaled();
        }
        row.version += 1;
        row.updated_at = now();
        let saved: ExchangeRateRow =
            diesel::update(t::table.filter(t::id.eq(id)).filter(t::version.eq(current.version)))
                .set(&row)
                .returning(t::all_columns)
                .get_result(conn)
                .optional()?
                .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model()?;
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()?), &to_json(&v)))?;
        Ok(v)
    }

    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<Removal<ExchangeRate>> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        diesel::delete(t::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, id)?;
        history_of(conn, ENTITY, id, page)
    }
}

pub mod tax_rates {
    use super::*;
    use crate::model::*;
    use crate::repo::*;
    use diesel::prelude::*;
    use ordo_db::schema::{items, shipping_rules, tax_rates as t};

    pub const ENTITY: &str = "tax_rate";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
    }

    fn find(conn: &mut DbConnection, id: i64) -> Result<TaxRateRow> {
        t::table
            .find(id)
            .select(TaxRateRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("tax rate", id))
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: TaxRateCreate) -> Result<TaxRate> {
        write(caller)?;
        let ts = now();
        let row: TaxRateRow = diesel::insert_into(t::table)
            .values(NewTaxRate {
                code: input.code.trim().to_string(),
                name: input.name.trim().to_string(),
                percent: input.percent.to_scaled(),
                active: input.active.unwrap_or(true),
                version: 1,
                created_at: ts,
                updated_at: ts,
            })
            .returning(t::all_columns)
            .get_result(conn)
            .map_err(unique_as("duplicate_code", "another tax rate has this code"))?;
        let v = row.to_model();
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<TaxRate>> {
        read(caller)?;
        let mut q = t::table.select(TaxRateRow::as_select()).into_boxed();
        if let Some(a) = f.active {
            q = q.filter(t::active.eq(a));
        }
        Ok(Page::from_rows(ordo_db::keyset!(q, page, t::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<TaxRate> {
        read(caller)?;
        Ok(find(conn, id)?.to_model())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: TaxRatePatch,
    ) -> Result<TaxRate> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        if let Some(v) = p.name {
            row.name = v.trim().to_string();
        }
        if let Some(v) = p.percent {
            row.percent = v.to_scaled();
        }
        if let Some(v) = p.active {
            row.active = v;
        }
        row.version += 1;
        row.updated_at = now();
        let saved: TaxRateRow = diesel::update(t::table.filter(t::id.eq(id)).filter(t::version.eq(current.version)))
            .set(&row)
            .returning(t::all_columns)
            .get_result(conn)
            .optional()?
            .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()), &to_json(&v)))?;
        Ok(v)
    }

    /// Tax rates in use by items cannot be deleted; deactivate them instead.
    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<Removal<TaxRate>> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let used: i64 = items::table.filter(items::tax_rate_id.eq(id)).count().get_result::<i64>(conn)?
            + shipping_rules::table.filter(shipping_rules::tax_rate_id.eq(id)).count().get_result::<i64>(conn)?;
        if used > 0 {
            return Err(DomainError::conflict(
                "in_use",
                format!("{used} item(s) or shipping rule(s) use this tax rate; deactivate it instead"),
            ));
        }
        diesel::delete(t::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, id)?;
        history_of(conn, ENTITY, id, page)
    }
}

pub mod price_lists {
    use super::*;
    use crate::model::*;
    use crate::repo::*;
    use diesel::prelude::*;
    use ordo_core::Currency;
    use ordo_db::schema::{customers, price_lists as t};

    pub const ENTITY: &str = "price_list";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
        pub currency: Option<Currency>,
    }

    /// A base list must exist and must not be this list or derived from it.
    fn check_base(conn: &mut DbConnection, id: Option<i64>, base: i64) -> Result<()> {
        let n: i64 = t::table.find(base).count().get_result(conn)?;
        if n == 0 {
            return Err(DomainError::reference_not_found("price list", "base_price_list_id", base));
        }
        if let Some(id) = id {
            let chain = ordo_core::validate::ancestors(base, |pid| {
                let parent: Option<Option<i64>> =
                    t::table.find(pid).select(t::base_price_list_id).first(conn).optional()?;
                Ok::<_, DomainError>(parent.flatten())
            })?;
            if chain.contains(&id) {
                return Err(DomainError::field("base_price_list_id", "cycle", "a list cannot be derived from itself"));
            }
        }
        Ok(())
    }

    /// A list derives from another list or from a supplier, not both; a markup needs a
    /// base; the supplier must exist (checked when it is set or changed).
    fn check_bases(
        conn: &mut DbConnection,
        list: Option<i64>,
        supplier: Option<i64>,
        markup: bool,
        check_supplier: bool,
    ) -> Result<()> {
        use ordo_db::schema::suppliers;
        if list.is_some() && supplier.is_some() {
            return Err(DomainError::field(
                "base_supplier_id",
                "two_bases",
                "a list derives from another list or from a supplier, not both",
            ));
        }
        if markup && list.is_none() && supplier.is_none() {
            return Err(DomainError::field(
                "markup_percent",
                "requires_base",
                "a markup needs base_price_list_id or base_supplier_id",
            ));
        }
        if let (Some(s), true) = (supplier, check_supplier) {
            let n: i64 = suppliers::table.find(s).count().get_result(conn)?;
            if n == 0 {
                return Err(DomainError::reference_not_found("supplier", "base_supplier_id", s));
            }
        }
        Ok(())
    }

    /// One default list at most: setting the flag takes it from the others (audited).
    fn clear_default(conn: &mut DbConnection, caller: &Caller, except: i64) -> Result<()> {
        let others: Vec<i64> =
            t::table.filter(t::is_default.eq(true)).filter(t::id.ne(except)).select(t::id).load(conn)?;
        if others.is_empty() {
            return Ok(());
        }
        diesel::update(t::table.filter(t::id.eq_any(&others)))
            .set((t::is_default.eq(false), t::version.eq(t::version + 1), t::updated_at.eq(now())))
            .execute(conn)?;
        let change = serde_json::json!({"is_default": {"from": true, "to": false}});
        for id in others {
            audit::record(conn, caller, ENTITY, id, "update", &change)?;
        }
        Ok(())
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: PriceListCreate) -> Result<PriceList> {
        write(caller)?;
        validity(input.valid_from, input.valid_to)?;
        if let Some(b) = input.base_price_list_id {
            check_base(conn, None, b)?;
        }
        check_bases(conn, input.base_price_list_id, input.base_supplier_id, input.markup_percent.is_some(), true)?;
        let ts = now();
        let row: PriceListRow = diesel::insert_into(t::table)
            .values(NewPriceList {
                name: input.name.trim().to_string(),
                currency: input.currency.code().into(),
                prices_include_tax: input.prices_include_tax,
                valid_from: input.valid_from,
                valid_to: input.valid_to,
                base_price_list_id: input.base_price_list_id,
                base_supplier_id: input.base_supplier_id,
                markup_percent: input.markup_percent.map(|m| m.to_scaled()),
                active: input.active.unwrap_or(true),
                is_default: input.is_default,
                version: 1,
                created_at: ts,
                updated_at: ts,
            })
            .returning(t::all_columns)
            .get_result(conn)
            .map_err(unique_as("duplicate_name", "another price list has this name"))?;
        if row.is_default {
            clear_default(conn, caller, row.id)?;
        }
        let v = row.to_model()?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<PriceList>> {
        read(caller)?;
        let mut q = t::table.select(PriceListRow::as_select()).into_boxed();
        if let Some(a) = f.active {
            q = q.filter(t::active.eq(a));
        }
        if let Some(c) = f.currency {
            q = q.filter(t::currency.eq(c.code()));
        }
        let rows = Page::from_rows(ordo_db::keyset!(q, page, t::id).load(conn)?, page, |r| r.id);
        Ok(Page {
            data: rows.data.iter().map(|r| r.to_model()).collect::<Result<_>>()?,
            next_cursor: rows.next_cursor,
            total: rows.total,
        })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<PriceList> {
        read(caller)?;
        find_price_list(conn, id)?.to_model()
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: PriceListPatch,
    ) -> Result<PriceList> {
        write(caller)?;
        let current = find_price_list(conn, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        if let Some(v) = p.name {
            row.name = v.trim().to_string();
        }
        if let Some(v) = p.prices_include_tax {
            row.prices_include_tax = v;
        }
        if let Some(v) = p.valid_from {
            row.valid_from = v;
        }
        if let Some(v) = p.valid_to {
            row.valid_to = v;
        }
        validity(row.valid_from, row.valid_to)?;
        if let Some(v) = p.base_price_list_id {
            if let Some(b) = v {
                check_base(conn, Some(id), b)?;
            }
            row.base_price_list_id = v;
        }
        if let Some(v) = p.base_supplier_id {
            row.base_supplier_id = v;
        }
        if let Some(v) = p.markup_percent {
            row.markup_percent = v.map(|m| m.to_scaled());
        }
        let supplier_changed = row.base_supplier_id != current.base_supplier_id;
        check_bases(
            conn,
            row.base_price_list_id,
            row.base_supplier_id,
            row.markup_percent.is_some(),
            supplier_changed,
        )?;
        if let Some(v) = p.active {
            row.active = v;
        }
        if let Some(v) = p.is_default {
            row.is_default = v;
        }
        row.version += 1;
        row.updated_at = now();
        let saved: PriceListRow = diesel::update(t::table.filter(t::id.eq(id)).filter(t::version.eq(current.version)))
            .set(&row)
            .returning(t::all_columns)
            .get_result(conn)
            .optional()
            .map_err(unique_as("duplicate_name", "another price list has this name"))?
            .ok_or_else(|| DomainError::stale_version(current.version))?;
        if saved.is_default && !current.is_default {
            clear_default(conn, caller, id)?;
        }
        let v = saved.to_model()?;
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()?), &to_json(&v)))?;
        Ok(v)
    }

    /// Lists that customers or derived lists use cannot be deleted (deactivate them);
    /// otherwise the list goes with its prices.
    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<Removal<PriceList>> {
        write(caller)?;
        let current = find_price_list(conn, id)?;
        check_version(if_match, current.version)?;
        let users: i64 = customers::table.filter(customers::price_list_id.eq(id)).count().get_result(conn)?;
        let derived: i64 = t::table.filter(t::base_price_list_id.eq(id)).count().get_result(conn)?;
        if users + derived > 0 {
            return Err(DomainError::conflict(
                "in_use",
                format!("{users} customer(s) and {derived} derived list(s) use this list; deactivate it instead"),
            ));
        }
        diesel::delete(t::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find_price_list(conn, id)?;
        history_of(conn, ENTITY, id, page)
    }

    /// The new price: `old × (1 + percent/100)`, then rounded to the step or given the
    /// ending (the nearest such price, ties upward), never below zero; 4 decimals.
    pub fn adjusted(old: ordo_core::Money, r: &PriceAdjustRequest) -> Result<ordo_core::Money> {
        use crate::engine::round_to;
        use rust_decimal::Decimal;
        let raw = old.value() * (Decimal::ONE + r.percent.value() / Decimal::from(100));
        let new = match (r.rounding_step, r.price_ending) {
            (Some(step), _) => round_to(raw / step.value(), 0) * step.value(),
            (None, Some(end)) => {
                let base = raw.floor();
                let (low, high) = (base - Decimal::ONE + end.value(), base + end.value());
                let pick = if (raw - low) < (high - raw) { low } else { high };
                if pick < Decimal::ZERO {
                    high
                } else {
                    pick
                }
            }
            (None, None) => raw,
        };
        ordo_core::Money::new(round_to(new.max(Decimal::ZERO), ordo_core::Money::SCALE)).map_err(|e| {
            ordo_core::error::amount_out_of_range("percent", format!("an adjusted price is out of range: {e}"))
        })
    }

    /// Bulk raise/lower: one transaction, one history entry on the list.
    pub fn adjust(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        r: PriceAdjustRequest,
    ) -> Result<PriceAdjustResult> {
        use ordo_db::schema::{item_prices, items};
        write(caller)?;
        if r.rounding_step.is_some() && r.price_ending.is_some() {
            return Err(DomainError::field("price_ending", "conflict", "give rounding_step or price_ending, not both"));
        }
        find_price_list(conn, id)?;
        let mut q = item_prices::table
            .filter(item_prices::price_list_id.eq(id))
            .select(ItemPriceRow::as_select())
            .order(item_prices::id.asc())
            .into_boxed();
        if let Some(g) = r.item_group_id {
            let n: i64 = ordo_db::schema::item_groups::table.find(g).count().get_result(conn)?;
            if n == 0 {
                return Err(DomainError::reference_not_found("item group", "item_group_id", g));
            }
            q = q
                .filter(item_prices::item_id.eq_any(items::table.filter(items::item_group_id.eq(g)).select(items::id)));
        }
        let rows: Vec<ItemPriceRow> = q.load(conn)?;
        let mut changes = vec![];
        for row in &rows {
            let before = ordo_core::Money::from_scaled(row.price);
            let after = adjusted(before, &r)?;
            if after != before {
                changes.push(PriceChange {
                    item_price_id: row.id,
                    item_id: row.item_id,
                    unit: row.unit.clone(),
                    min_quantity: ordo_core::Quantity::from_scaled(row.min_quantity),
                    before,
                    after,
                });
            }
        }
        if !r.dry_run && !changes.is_empty() {
            let ts = now();
            for c in &changes {
                diesel::update(item_prices::table.find(c.item_price_id))
                    .set((
                        item_prices::price.eq(c.after.to_scaled()),
                        item_prices::version.eq(item_prices::version + 1),
                        item_prices::updated_at.eq(ts),
                    ))
                    .execute(conn)?;
            }
            let summary = serde_json::json!({
                "percent": r.percent, "item_group_id": r.item_group_id,
                "rounding_step": r.rounding_step, "price_ending": r.price_ending,
                "changed": changes.len(),
                "prices": changes.iter().map(|c| serde_json::json!({"item_price_id": c.item_price_id, "from": c.before, "to": c.after})).collect::<Vec<_>>(),
            });
            audit::record(conn, caller, ENTITY, id, "adjust", &summary)?;
        }
        Ok(PriceAdjustResult { price_list_id: id, dry_run: r.dry_run, count: changes.len(), changes })
    }
}

/// Prices on one list: `/price-lists/{id}/prices`.
pub mod item_prices {
    use super::*;
    use crate::model::*;
    use crate::repo::*;
    use diesel::prelude::*;
    use ordo_core::{FieldError, Money, Rate};
    use ordo_db::schema::{item_prices as t, items};
    use rust_decimal::Decimal;
    use time::Date;

    pub const ENTITY: &str = "item_price";

    fn find(conn: &mut DbConnection, list_id: i64, id: i64) -> Result<ItemPriceRow> {
        t::table
            .filter(t::id.eq(id))
            .filter(t::price_list_id.eq(list_id))
            .select(ItemPriceRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("item price", id))
    }

    /// No two prices of one item, unit and tier may be valid on the same day.
    fn check_overlap(conn: &mut DbConnection, row: &ItemPriceRow) -> Result<()> {
        let same: Vec<ItemPriceRow> = t::table
            .filter(t::price_list_id.eq(row.price_list_id))
            .filter(t::item_id.eq(row.item_id))
            .filter(t::unit.eq(&row.unit))
            .filter(t::min_quantity.eq(row.min_quantity))
            .filter(t::id.ne(row.id))
            .select(ItemPriceRow::as_select())
            .load(conn)?;
        if let Some(other) = same.iter().find(|o| overlaps((o.valid_from, o.valid_to), (row.valid_from, row.valid_to)))
        {
            return Err(DomainError::conflict(
                "overlapping_price",
                format!("item price {} has the same item, unit and tier for an overlapping period", other.id),
            ));
        }
        Ok(())
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, list_id: i64, input: ItemPriceCreate) -> Result<ItemPrice> {
        write(caller)?;
        validity(input.valid_from, input.valid_to)?;
        find_price_list(conn, list_id)?;
        let base_unit: Option<String> =
            items::table.find(input.item_id).select(items::base_unit).first(conn).optional()?;
        let base_unit = base_unit.ok_or_else(|| DomainError::reference_not_found("item", "item_id", input.item_id))?;
        let ts = now();
        let mut row = ItemPriceRow {
            id: 0,
            price_list_id: list_id,
            item_id: input.item_id,
            unit: input.unit.unwrap_or(base_unit),
            price: input.price.to_scaled(),
            min_quantity: input.min_quantity.unwrap_or_default().to_scaled(),
            valid_from: input.valid_from,
            valid_to: input.valid_to,
            version: 1,
            created_at: ts,
            updated_at: ts,
        };
        check_overlap(conn, &row)?;
        row = diesel::insert_into(t::table)
            .values(NewItemPrice {
                price_list_id: row.price_list_id,
                item_id: row.item_id,
                unit: row.unit.clone(),
                price: row.price,
                min_quantity: row.min_quantity,
                valid_from: row.valid_from,
                valid_to: row.valid_to,
                version: 1,
                created_at: ts,
                updated_at: ts,
            })
            .returning(t::all_columns)
            .get_result(conn)?;
        let v = row.to_model();
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    /// Many prices into one list at once (bulk import): the same rules as [`create`]
    /// (item exists, valid period, no overlapping price of the item, unit and tier,
    /// also within the rows given), checked for every row with a few queries per
    /// thousand rows, then inserted a thousand rows per statement. Answers the refused
    /// rows (`row`, error) and inserts nothing when there are any. One audit record
    /// on the price list says how many prices the import added.
    pub fn import(
        conn: &mut DbConnection,
        caller: &Caller,
        list_id: i64,
        rows: Vec<(i64, ItemPriceCreate)>,
    ) -> Result<Vec<(i64, FieldError)>> {
        write(caller)?;
        find_price_list(conn, list_id)?;
        let mut ids: Vec<i64> = rows.iter().map(|(_, r)| r.item_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut units = std::collections::HashMap::new();
        // Validity periods per (item, unit, tier): the existing ones and the accepted rows'.
        type Periods = Vec<(Option<Date>, Option<Date>)>;
        let mut taken: std::collections::HashMap<(i64, String, i64), Periods> = std::collections::HashMap::new();
        for chunk in ids.chunks(1000) {
            for (id, unit) in items::table
                .filter(items::id.eq_any(chunk))
                .select((items::id, items::base_unit))
                .load::<(i64, String)>(conn)?
            {
                units.insert(id, unit);
            }
            for p in t::table
                .filter(t::price_list_id.eq(list_id))
                .filter(t::item_id.eq_any(chunk))
                .select(ItemPriceRow::as_select())
                .load(conn)?
            {
                taken.entry((p.item_id, p.unit, p.min_quantity)).or_default().push((p.valid_from, p.valid_to));
            }
        }
        let (ts, mut errors, mut new) = (now(), vec![], Vec::with_capacity(rows.len()));
        for (n, r) in rows {
            if let Err(e) = validity(r.valid_from, r.valid_to) {
                errors.extend(e.field_errors().into_iter().map(|f| (n, f)));
                continue;
            }
            let Some(base) = units.get(&r.item_id) else {
                errors.push((n, FieldError::new("item_id", "not_found", format!("item {} not found", r.item_id))));
                continue;
            };
            let row = NewItemPrice {
                price_list_id: list_id,
                item_id: r.item_id,
                unit: r.unit.unwrap_or_else(|| base.clone()),
                price: r.price.to_scaled(),
                min_quantity: r.min_quantity.unwrap_or_default().to_scaled(),
                valid_from: r.valid_from,
                valid_to: r.valid_to,
                version: 1,
                created_at: ts,
                updated_at: ts,
            };
            let periods = taken.entry((row.item_id, row.unit.clone(), row.min_quantity)).or_default();
            if periods.iter().any(|p| overlaps(*p, (row.valid_from, row.valid_to))) {
                errors.push((
                    n,
                    FieldError::new(
                        "item_id",
                        "overlapping_price",
                        "a price of this item, unit and tier is valid in an overlapping period",
                    ),
                ));
                continue;
            }
            periods.push((row.valid_from, row.valid_to));
            new.push(row);
        }
        if !errors.is_empty() {
            return Ok(errors);
        }
        for chunk in new.chunks(1000) {
            // Every column bound (NULL, never DEFAULT): diesel runs a multi-row VALUES
            // on SQLite as one statement only then, and per backend.
            let values: Vec<_> = chunk
                .iter()
                .map(|r| {
                    (
                        t::price_list_id.eq(r.price_list_id),
                        t::item_id.eq(r.item_id),
                        t::unit.eq(&r.unit),
                        t::price.eq(r.price),
                        t::min_quantity.eq(r.min_quantity),
                        t::valid_from.eq(r.valid_from),
                        t::valid_to.eq(r.valid_to),
                        t::version.eq(r.version),
                        t::created_at.eq(r.created_at),
                        t::updated_at.eq(r.updated_at),
                    )
                })
                .collect();
            match conn {
                DbConnection::Pg(c) => diesel::insert_into(t::table).values(values).execute(c)?,
                DbConnection::Sqlite(c) => diesel::insert_into(t::table).values(values).execute(c)?,
            };
        }
        audit::record(conn, caller, "price_list", list_id, "import_prices", &serde_json::json!({"added": new.len()}))?;
        Ok(vec![])
    }

    /// Raises (or lowers) every price of a list, of one item or of one item group, by
    /// `percent`, rounded to the list currency's minor units: a price-list adjustment.
    /// Answers how many prices changed; each change is in the price's history.
    pub fn adjust(
        conn: &mut DbConnection,
        caller: &Caller,
        list_id: i64,
        item_id: Option<i64>,
        item_group_id: Option<i64>,
        percent: Rate,
    ) -> Result<usize> {
        write(caller)?;
        let list = find_price_list(conn, list_id)?;
        let minor = ordo_core::Currency::from_code(&list.currency).map_or(2, |c| c.minor_units() as u32);
        let mut q = t::table.filter(t::price_list_id.eq(list_id)).select(ItemPriceRow::as_select()).into_boxed();
        if let Some(i) = item_id {
            q = q.filter(t::item_id.eq(i));
        }
        if let Some(g) = item_group_id {
            q = q.filter(t::item_id.eq_any(items::table.filter(items::item_group_id.eq(g)).select(items::id)));
        }
        let factor = Decimal::ONE + percent.value() / Decimal::ONE_HUNDRED;
        let rows: Vec<ItemPriceRow> = q.load(conn)?;
        for r in &rows {
            let price = (Money::from_scaled(r.price).value() * factor)
                .round_dp_with_strategy(minor, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            let price = Money::new(price.max(Decimal::ZERO))
                .map_err(|e| DomainError::field("percent", "range", e.to_string()))?
                .to_scaled();
            diesel::update(t::table.filter(t::id.eq(r.id)))
                .set((t::price.eq(price), t::version.eq(r.version + 1), t::updated_at.eq(now())))
                .execute(conn)?;
            audit::record(
                conn,
                caller,
                ENTITY,
                r.id,
                "adjust",
                &serde_json::json!({"price": Money::from_scaled(price), "percent": percent}),
            )?;
        }
        Ok(rows.len())
    }

    pub fn list(
        conn: &mut DbConnection,
        caller: &Caller,
        list_id: i64,
        item_id: Option<i64>,
        page: &PageRequest,
    ) -> Result<Page<ItemPrice>> {
        read(caller)?;
        find_price_list(conn, list_id)?;
        let mut q = t::table.filter(t::price_list_id.eq(list_id)).select(ItemPriceRow::as_select()).into_boxed();
        if let Some(i) = item_id {
            q = q.filter(t::item_id.eq(i));
        }
        Ok(Page::from_rows(ordo_db::keyset!(q, page, t::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, list_id: i64, id: i64) -> Result<ItemPrice> {
        read(caller)?;
        Ok(find(conn, list_id, id)?.to_model())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        list_id: i64,
        id: i64,
        if_match: Option<i64>,
        p: ItemPricePatch,
    ) -> Result<ItemPrice> {
        write(caller)?;
        let current = find(conn, list_id, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        p.apply(&mut row.price, &mut row.min_quantity, &mut row.valid_from, &mut row.valid_to)?;
        check_overlap(conn, &row)?;
        row.version += 1;
        row.updated_at = now();
        let saved: ItemPriceRow = diesel::update(t::table.filter(t::id.eq(id)).filter(t::version.eq(current.version)))
            .set(&row)
            .returning(t::all_columns)
            .get_result(conn)
            .optional()?
            .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()), &to_json(&v)))?;
        Ok(v)
    }

    pub fn history(
        conn: &mut DbConnection,
        caller: &Caller,
        list_id: i64,
        id: i64,
        page: &PageRequest,
    ) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, list_id, id)?;
        history_of(conn, ENTITY, id, page)
    }

    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        list_id: i64,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<()> {
        write(caller)?;
        let current = find(conn, list_id, id)?;
        check_version(if_match, current.version)?;
        diesel::delete(t::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()))?;
        Ok(())
    }
}

/// Special prices of one customer: `/customers/{id}/prices`, visible with the customer.
pub mod customer_prices {
    use super::*;
    use crate::model::*;
    use crate::repo::*;
    use diesel::prelude::*;
    use ordo_db::schema::{customer_prices as t, items};

    pub const ENTITY: &str = "customer_price";

    fn find(conn: &mut DbConnection, customer_id: i64, id: i64) -> Result<CustomerPriceRow> {
        t::table
            .filter(t::id.eq(id))
            .filter(t::customer_id.eq(customer_id))
            .select(CustomerPriceRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("customer price", id))
    }

    fn check_overlap(conn: &mut DbConnection, row: &CustomerPriceRow) -> Result<()> {
        let same: Vec<CustomerPriceRow> = t::table
            .filter(t::customer_id.eq(row.customer_id))
            .filter(t::item_id.eq(row.item_id))
            .filter(t::unit.eq(&row.unit))
            .filter(t::currency.eq(&row.currency))
            .filter(t::min_quantity.eq(row.min_quantity))
            .filter(t::id.ne(row.id))
            .select(CustomerPriceRow::as_select())
            .load(conn)?;
        if let Some(other) = same.iter().find(|o| overlaps((o.valid_from, o.valid_to), (row.valid_from, row.valid_to)))
        {
            return Err(DomainError::conflict(
                "overlapping_price",
                format!(
                    "customer price {} has the same item, unit, currency and tier for an overlapping period",
                    other.id
                ),
            ));
        }
        Ok(())
    }

    pub fn create(
        conn: &mut DbConnection,
        caller: &Caller,
        customer_id: i64,
        input: CustomerPriceCreate,
    ) -> Result<CustomerPrice> {
        let customer = ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
        write(caller)?;
        validity(input.valid_from, input.valid_to)?;
        let base_unit: Option<String> =
            items::table.find(input.item_id).select(items::base_unit).first(conn).optional()?;
        let base_unit = base_unit.ok_or_else(|| DomainError::reference_not_found("item", "item_id", input.item_id))?;
        let ts = now();
        let row = CustomerPriceRow {
            id: 0,
            customer_id,
            item_id: input.item_id,
            unit: input.unit.unwrap_or(base_unit),
            currency: input.currency.map(|c| c.code().to_string()).unwrap_or(customer.currency),
            price: input.price.to_scaled(),
            min_quantity: input.min_quantity.unwrap_or_default().to_scaled(),
            valid_from: input.valid_from,
            valid_to: input.valid_to,
            version: 1,
            created_at: ts,
            updated_at: ts,
        };
        check_overlap(conn, &row)?;
        let saved: CustomerPriceRow = diesel::insert_into(t::table)
            .values(NewCustomerPrice {
                customer_id,
                item_id: row.item_id,
                unit: row.unit,
                currency: row.currency,
                price: row.price,
                min_quantity: row.min_quantity,
                valid_from: row.valid_from,
                valid_to: row.valid_to,
                version: 1,
                created_at: ts,
                updated_at: ts,
            })
            .returning(t::all_columns)
            .get_result(conn)?;
        let v = saved.to_model()?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(
        conn: &mut DbConnection,
        caller: &Caller,
        customer_id: i64,
        page: &PageRequest,
    ) -> Result<Page<CustomerPrice>> {
        ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
        read(caller)?;
        let q = t::table.filter(t::customer_id.eq(customer_id)).select(CustomerPriceRow::as_select()).into_boxed();
        let rows = Page::from_rows(ordo_db::keyset!(q, page, t::id).load(conn)?, page, |r| r.id);
        Ok(Page {
            data: rows.data.iter().map(|r| r.to_model()).collect::<Result<_>>()?,
            next_cursor: rows.next_cursor,
            total: rows.total,
        })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, customer_id: i64, id: i64) -> Result<CustomerPrice> {
        ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
        read(caller)?;
        find(conn, customer_id, id)?.to_model()
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        customer_id: i64,
        id: i64,
        if_match: Option<i64>,
        p: ItemPricePatch,
    ) -> Result<CustomerPrice> {
        ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
        write(caller)?;
        let current = find(conn, customer_id, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        p.apply(&mut row.price, &mut row.min_quantity, &mut row.valid_from, &mut row.valid_to)?;
        check_overlap(conn, &row)?;
        row.version += 1;
        row.updated_at = now();
        let saved: CustomerPriceRow =
            diesel::update(t::table.filter(t::id.eq(id)).filter(t::version.eq(current.version)))
                .set(&row)
                .returning(t::all_columns)
                .get_result(conn)
                .optional()?
                .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model()?;
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()?), &to_json(&v)))?;
        Ok(v)
    }

    pub fn history(
        conn: &mut DbConnection,
        caller: &Caller,
        customer_id: i64,
        id: i64,
        page: &PageRequest,
    ) -> Result<Page<Entry>> {
        ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
        read(caller)?;
        find(conn, customer_id, id)?;
        history_of(conn, ENTITY, id, page)
    }

    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        customer_id: i64,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<()> {
        ordo_crm::scope::customer(conn, caller.scope(), customer_id)?;
        write(caller)?;
        let current = find(conn, customer_id, id)?;
        check_version(if_match, current.version)?;
        diesel::delete(t::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
        Ok(())
    }
}

/// Item-group discounts, for one customer or all.
pub mod group_discounts {
    use super::*;
    use crate::model::*;
    use crate::repo::*;
    use diesel::prelude::*;
    use ordo_core::Scope;
    use ordo_db::schema::{customers, group_discounts as t, item_groups};

    pub const ENTITY: &str = "group_discount";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub customer_id: Option<i64>,
        pub item_group_id: Option<i64>,
    }

    /// Visible: discounts for everyone, and those of customers the caller may see.
    fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<GroupDiscountRow> {
        let row: GroupDiscountRow = t::table
            .find(id)
            .select(GroupDiscountRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("group discount", id))?;
        if let Some(c) = row.customer_id {
            ordo_crm::scope::customer(conn, caller.scope(), c)
                .map_err(|_| DomainError::not_found("group discount", id))?;
        }
        Ok(row)
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: GroupDiscountCreate) -> Result<GroupDiscount> {
        if let Some(c) = input.customer_id {
            ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", c)?;
        }
        write(caller)?;
        validity(input.valid_from, input.valid_to)?;
        let n: i64 = item_groups::table.find(input.item_group_id).count().get_result(conn)?;
        if n == 0 {
            return Err(DomainError::reference_not_found("item group", "item_group_id", input.item_group_id));
        }
        let ts = now();
        let row: GroupDiscountRow = diesel::insert_into(t::table)
            .values(NewGroupDiscount {
                customer_id: input.customer_id,
                item_group_id: input.item_group_id,
                percent: input.percent.to_scaled(),
                valid_from: input.valid_from,
                valid_to: input.valid_to,
                version: 1,
                created_at: ts,
                updated_at: ts,
            })
            .returning(t::all_columns)
            .get_result(conn)?;
        let v = row.to_model();
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(
        conn: &mut DbConnection,
        caller: &Caller,
        f: &Filter,
        page: &PageRequest,
    ) -> Result<Page<GroupDiscount>> {
        read(caller)?;
        let mut q = t::table.select(GroupDiscountRow::as_select()).into_boxed();
        if let Scope::OwnCustomers(me) = caller.scope() {
            let mine = customers::table.filter(customers::owner_id.eq(me)).select(customers::id);
            q = q.filter(t::customer_id.is_null().or(t::customer_id.eq_any(mine.nullable())));
        }
        if let Some(c) = f.customer_id {
            q = q.filter(t::customer_id.eq(c));
        }
        if let Some(g) = f.item_group_id {
            q = q.filter(t::item_group_id.eq(g));
        }
        Ok(Page::from_rows(ordo_db::keyset!(q, page, t::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<GroupDiscount> {
        read(caller)?;
        Ok(find(conn, caller, id)?.to_model())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: GroupDiscountPatch,
    ) -> Result<GroupDiscount> {
        write(caller)?;
        let current = find(conn, caller, id)?;
        check_version(if_match, current.version)?;
        let mut row = current.clone();
        if let Some(v) = p.percent {
            row.percent = v.to_scaled();
        }
        if let Some(v) = p.valid_from {
            row.valid_from = v;
        }
        if let Some(v) = p.valid_to {
            row.valid_to = v;
        }
        validity(row.valid_from, row.valid_to)?;
        row.version += 1;
        row.updated_at = now();
        let saved: GroupDiscountRow =
            diesel::update(t::table.filter(t::id.eq(id)).filter(t::version.eq(current.version)))
                .set(&row)
                .returning(t::all_columns)
                .get_result(conn)
                .optional()?
                .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()), &to_json(&v)))?;
        Ok(v)
    }

    pub fn delete(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
    ) -> Result<Removal<GroupDiscount>> {
        write(caller)?;
        let current = find(conn, caller, id)?;
        check_version(if_match, current.version)?;
        diesel::delete(t::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, caller, id)?;
        history_of(conn, ENTITY, id, page)
    }
}

/// `POST /pricing/quote`: loads every fact the engine needs in a constant number of
/// queries (independent of the number of lines), then prices.
pub mod quote {
    use super::*;
    use crate::engine::{
        self, ComponentFacts, CustomerFacts, DiscountFacts, Facts, ItemFacts, ListFacts, OptionGroupFacts, PriceFacts,
        TaxFacts,
    };
    use ordo_catalog::model::BundlePricing;
    use ordo_catalog::structures::OptionGroupRow;
    use ordo_db::schema::{item_components, item_option_groups};

    /// parent item, component item, quantity, required, price override
    type ComponentRowT = (i64, i64, i64, bool, Option<i64>);
    use crate::model::*;
    use crate::repo::*;
    use crate::rules::{PricingRuleRow, ShippingRuleRow};
    use diesel::prelude::*;
    use ordo_core::{Currency, Money, Quantity, Rate};
    use ordo_crm::model::TaxTreatment;
    use ordo_crm::repo::CustomerRow;
    use ordo_db::schema::{customer_prices, customers, group_discounts, item_prices, items, price_lists, tax_rates};
    use ordo_db::schema::{pricing_rules, shipping_rules};
    use std::collections::{BTreeSet, HashMap};

    /// id, sku, base unit, group, tax rate, active, weight, bundle pricing, has structure
    type ItemPricingRow = (i64, String, String, Option<i64>, Option<i64>, bool, Option<i64>, String, bool, i64);

    /// The items with their prices on `lists`, in one read (an item without a price on
    /// them comes once, with none).
    fn load_items_priced(
        conn: &mut DbConnection,
        ids: &[i64],
        lists: &[i64],
    ) -> Result<(Vec<ItemPricingRow>, Vec<ItemPriceRow>)> {
        let rows: Vec<(ItemPricingRow, Option<ItemPriceRow>)> = items::table
            .left_join(
                item_prices::table.on(item_prices::item_id.eq(items::id).and(item_prices::price_list_id.eq_any(lists))),
            )
            .filter(items::id.eq_any(ids))
            .select((item_pricing_columns(), Option::<ItemPriceRow>::as_select()))
            .load(conn)?;
        let mut items: Vec<ItemPricingRow> = vec![];
        let mut prices = vec![];
        for (item, price) in rows {
            if !items.iter().any(|i: &ItemPricingRow| i.0 == item.0) {
                items.push(item);
            }
            prices.extend(price);
        }
        Ok((items, prices))
    }

    #[allow(clippy::type_complexity)]
    fn item_pricing_columns() -> (
        items::id,
        items::sku,
        items::base_unit,
        items::item_group_id,
        items::tax_rate_id,
        diesel::dsl::And<items::active, diesel::dsl::IsNull<items::archived_at>>,
        items::weight,
        items::bundle_pricing,
        items::has_structure,
        items::standard_cost,
    ) {
        (
            items::id,
            items::sku,
            items::base_unit,
            items::item_group_id,
            items::tax_rate_id,
            // Archived items are as good as inactive: they cannot be sold.
            items::active.and(items::archived_at.is_null()),
            items::weight,
            items::bundle_pricing,
            items::has_structure,
            items::standard_cost,
        )
    }

    fn load_items(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<ItemPricingRow>> {
        Ok(items::table.filter(items::id.eq_any(ids)).select(item_pricing_columns()).load(conn)?)
    }

    /// The coupon must exist, be active and valid, be this customer's (if bound to
    /// one) and have uses left; each failure is a 422 naming why.
    fn check_coupon(conn: &mut DbConnection, code: &str, customer_id: i64, date: time::Date) -> Result<AppliedCoupon> {
        use crate::rules::CouponRow;
        use ordo_db::schema::{coupon_redemptions, coupons};
        let upper = code.to_ascii_uppercase();
        let refuse = |why: &'static str, msg: String| DomainError::Rule {
            code: "coupon_invalid",
            detail: msg.clone(),
            errors: vec![ordo_core::FieldError::new("coupon_code", why, msg)],
        };
        let c: CouponRow = coupons::table
            .filter(coupons::code.eq(&upper))
            .select(CouponRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| refuse("unknown", format!("no coupon {upper}")))?;
        if !c.active {
            return Err(refuse("inactive", format!("coupon {upper} is deactivated")));
        }
        if c.valid_from.is_some_and(|f| date < f) {
            return Err(refuse(
                "not_yet_valid",
                format!("coupon {upper} is valid from {}", c.valid_from.unwrap_or(date)),
            ));
        }
        if c.valid_to.is_some_and(|t| t < date) {
            return Err(refuse("expired", format!("coupon {upper} expired on {}", c.valid_to.unwrap_or(date))));
        }
        if c.customer_id.is_some_and(|x| x != customer_id) {
            return Err(refuse("other_customer", format!("coupon {upper} belongs to another customer")));
        }
        if c.max_uses.is_some_and(|m| c.uses >= m) {
            return Err(refuse("exhausted", format!("coupon {upper} has no uses left")));
        }
        if let Some(per) = c.max_uses_per_customer {
            let used: i64 = coupon_redemptions::table
                .filter(coupon_redemptions::coupon_id.eq(c.id))
                .filter(coupon_redemptions::customer_id.eq(customer_id))
                .count()
                .get_result(conn)?;
            if used >= per {
                return Err(refuse("exhausted", format!("coupon {upper} was used {used} time(s) by this customer")));
            }
        }
        Ok(AppliedCoupon { code: upper, pricing_rule_id: c.pricing_rule_id })
    }

    fn customer_facts(row: &CustomerRow) -> Result<CustomerFacts> {
        Ok(CustomerFacts {
            id: row.id,
            name: row.name.clone(),
            currency: Currency::from_code(&row.currency)
                .ok_or_else(|| DomainError::Internal("customer currency".into()))?,
            tax_treatment: TaxTreatment::parse(&row.tax_treatment).unwrap_or(TaxTreatment::Standard),
            discount_percent: row.discount_percent.map(Rate::from_scaled),
        })
    }

    /// Quotes name the campaign and territory by id (as documents do) or by code and
    /// name (as rules do): ids are looked up (404 naming the field), and both given
    /// must agree (422). None when there is nothing to resolve.
    fn resolve_team_names(conn: &mut DbConnection, req: &QuoteRequest) -> Result<Option<QuoteRequest>> {
        use ordo_db::schema::{campaigns, territories};
        if req.campaign_id.is_none() && req.territory_id.is_none() {
            return Ok(None);
        }
        let mut out = req.clone();
        let disagree = |field: &str, given: &str, found: &str| {
            DomainError::field(field, "mismatch", format!("the id names {found:?}, not {given:?}"))
        };
        if let Some(id) = req.campaign_id {
            let code: String = campaigns::table
                .find(id)
                .select(campaigns::code)
                .first(conn)
                .optional()?
                .ok_or_else(|| DomainError::reference_not_found("campaign", "campaign_id", id))?;
            if let Some(given) = req.campaign_code.as_ref().filter(|g| !g.eq_ignore_ascii_case(&code)) {
                return Err(disagree("campaign_code", given, &code));
            }
            out.campaign_code = Some(code);
        }
        if let Some(id) = req.territory_id {
            let name: String = territories::table
                .find(id)
                .select(territories::name)
                .first(conn)
                .optional()?
                .ok_or_else(|| DomainError::reference_not_found("territory", "territory_id", id))?;
            if let Some(given) = req.territory.as_ref().filter(|g| !g.eq_ignore_ascii_case(&name)) {
                return Err(disagree("territory", given, &name));
            }
            out.territory = Some(name);
        }
        Ok(Some(out))
    }

    /// What every quote reads of the price setup, cached per process for as long as
    /// none of it changes (`ordo_db::refcache`): all price lists, the active pricing
    /// rules, the units' decimals and which customers have prices of their own.
    struct PricingReference {
        lists: Vec<PriceListRow>,
        rules: Vec<PricingRuleRow>,
        units: HashMap<String, i32>,
        /// The customers with prices of their own.
        priced_customers: BTreeSet<i64>,
    }

    fn pricing_reference(conn: &mut DbConnection) -> Result<std::sync::Arc<PricingReference>> {
        use ordo_db::schema::units;
        ordo_db::refcache::get(conn, |conn| {
            Ok(PricingReference {
                lists: price_lists::table.order(price_lists::id).select(PriceListRow::as_select()).load(conn)?,
                rules: pricing_rules::table
                    .filter(pricing_rules::active.eq(true))
                    .order(pricing_rules::id)
                    .select(PricingRuleRow::as_select())
                    .load(conn)?,
                units: units::table.select((units::code, units::decimals)).load(conn)?.into_iter().collect(),
                priced_customers: customer_prices::table
                    .select(customer_prices::customer_id)
                    .distinct()
                    .load::<i64>(conn)?
                    .into_iter()
                    .collect(),
            })
        })
    }

    fn list_usable(l: &PriceListRow, date: time::Date) -> bool {
        l.active && l.valid_from.is_none_or(|f| f <= date) && l.valid_to.is_none_or(|t| date <= t)
    }

    pub fn quote(
        conn: &mut DbConnection,
        caller: &Caller,
        req: &QuoteRequest,
        base_currency: Currency,
    ) -> Result<Quote> {
        let first = ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", req.customer_id)?;
        read(caller)?;
        let named = resolve_team_names(conn, req)?;
        let req = named.as_ref().unwrap_or(req);
        let date = req.date.unwrap_or_else(|| ordo_core::time_util::now().date());
        // The customer, then its parents: the parent-customer price policy.
        let mut chain = vec![first];
        while let Some(parent) = chain.last().and_then(|c| c.parent_id) {
            if chain.len() >= 20 || chain.iter().any(|c| c.id == parent) {
                break;
            }
            match customers::table.find(parent).select(CustomerRow::as_select()).first(conn).optional()? {
                Some(p) => chain.push(p),
                None => break,
            }
        }
        let customer_currency = Currency::from_code(&chain[0].currency).unwrap_or(base_currency);
        let currency = req.currency.unwrap_or(customer_currency);
        // Candidate lists in policy order, then the default; the first usable one wins.
        let wanted: Vec<i64> =
            req.price_list_id.into_iter().chain(chain.iter().filter_map(|c| c.price_list_id)).collect();
        let reference = pricing_reference(conn)?;
        let candidates: Vec<&PriceListRow> =
            reference.lists.iter().filter(|l| wanted.contains(&l.id) || l.is_default).collect();
        if let Some(pl) = req.price_list_id {
            if !candidates.iter().any(|l| l.id == pl) {
                return Err(DomainError::reference_not_found("price list", "price_list_id", pl));
            }
        }
        let effective = wanted
            .iter()
            .filter_map(|id| candidates.iter().find(|l| l.id == *id))
            .chain(candidates.iter().filter(|l| l.is_default))
            .find(|l| list_usable(l, date))
            .map(|l| (*l).clone());
        let mut lists: Vec<PriceListRow> = vec![];
        if let Some(l) = effective {
            let mut next = l.base_price_list_id;
            lists.push(l);
            while let Some(b) = next {
                if lists.len() >= 10 || lists.iter().any(|x| x.id == b) {
                    break;
                }
                let row = reference
                    .lists
                    .iter()
                    .find(|x| x.id == b)
                    .cloned()
                    .ok_or_else(|| DomainError::not_found("price list", b))?;
                next = row.base_price_list_id;
                lists.push(row);
            }
        }
        let item_ids: Vec<i64> = req.lines.iter().map(|l| l.item_id).collect::<BTreeSet<_>>().into_iter().collect();
        let list_ids: Vec<i64> = lists.iter().map(|l| l.id).collect();
        let (mut item_rows, mut list_prices) = load_items_priced(conn, &item_ids, &list_ids)?;
        let groups: Vec<i64> = item_rows.iter().filter_map(|r| r.3).collect::<BTreeSet<_>>().into_iter().collect();
        // Candidate rules: active ones aimed at these items, their groups, or every item.
        let rule_rows: Vec<&PricingRuleRow> = reference
            .rules
            .iter()
            .filter(|r| match (r.item_id, r.item_group_id) {
                (None, None) => true,
                (i, g) => i.is_some_and(|i| item_ids.contains(&i)) || g.is_some_and(|g| groups.contains(&g)),
            })
            .collect();
        // Structures of the bundles and configurable items among the lines.
        let structured: Vec<i64> = item_rows.iter().filter(|r| r.8).map(|r| r.0).collect();
        let (component_rows, option_rows): (Vec<ComponentRowT>, Vec<OptionGroupRow>) = if structured.is_empty() {
            (vec![], vec![])
        } else {
            (
                item_components::table
                    .filter(item_components::item_id.eq_any(&structured))
                    .select((
                        item_components::item_id,
                        item_components::component_item_id,
                        item_components::quantity,
                        item_components::required,
                        item_components::price_override,
                    ))
                    .load(conn)?,
                item_option_groups::table
                    .filter(item_option_groups::item_id.eq_any(&structured))
                    .select(OptionGroupRow::as_select())
                    .load(conn)?,
            )
        };
        let option_groups: Vec<(i64, OptionGroupFacts)> = option_rows
            .iter()
            .map(|g| {
                let m = g.to_model()?;
                Ok((g.item_id, OptionGroupFacts { name: m.name, required: m.required, choices: m.choices }))
            })
            .collect::<Result<_>>()?;
        let component_ids: BTreeSet<i64> = component_rows
            .iter()
            .map(|c| c.1)
            .chain(option_groups.iter().flat_map(|(_, g)| g.choices.iter().filter_map(|c| c.component_item_id)))
            .filter(|id| !item_ids.contains(id))
            .collect();
        let free_ids: Vec<i64> = rule_rows
            .iter()
            .filter_map(|r| r.free_item_id)
            .filter(|id| !item_ids.contains(id))
            .chain(component_ids.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !free_ids.is_empty() {
            item_rows.extend(load_items(conn, &free_ids)?);
        }
        // Components are priced too.
        let price_ids: Vec<i64> = item_ids.iter().copied().chain(component_ids.iter().copied()).collect();
        // Units: decimals of every unit in play, and conversions for lines not in base units.
        let base_of: HashMap<i64, String> = item_rows.iter().map(|r| (r.0, r.2.clone())).collect();
        let converted: Vec<i64> = req
            .lines
            .iter()
            .filter(|l| l.unit.as_ref().is_some_and(|u| base_of.get(&l.item_id).is_some_and(|b| b != u)))
            .map(|l| l.item_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let unit_codes: Vec<String> = req
            .lines
            .iter()
            .filter_map(|l| l.unit.clone())
            .chain(base_of.values().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let unit_decimals: HashMap<String, i32> =
            unit_codes.iter().filter_map(|c| reference.units.get(c).map(|d| (c.clone(), *d))).collect();
        let conversions: HashMap<(i64, String), Quantity> = if converted.is_empty() {
            HashMap::new()
        } else {
            use ordo_db::schema::item_units;
            item_units::table
                .filter(item_units::item_id.eq_any(&converted))
                .select((item_units::item_id, item_units::unit, item_units::factor))
                .load::<(i64, String, i64)>(conn)?
                .into_iter()
                .map(|(i, u, f)| ((i, u), Quantity::from_scaled(f)))
                .collect()
        };
        let coupon = match &req.coupon_code {
            Some(code) => Some(check_coupon(conn, code, req.customer_id, date)?),
            None => None,
        };
        let shipping: Vec<ShippingRuleRow> = if req.shipping_country.is_some() {
            shipping_rules::table
                .filter(shipping_rules::active.eq(true))
                .select(ShippingRuleRow::as_select())
                .load(conn)?
        } else {
            vec![]
        };
        // The lines' items came with their prices; the components' are read now.
        if !list_ids.is_empty() && !component_ids.is_empty() {
            let ids: Vec<i64> = component_ids.iter().copied().collect();
            list_prices.extend(
                item_prices::table
                    .filter(item_prices::price_list_id.eq_any(&list_ids))
                    .filter(item_prices::item_id.eq_any(&ids))
                    .select(ItemPriceRow::as_select())
                    .load(conn)?,
            );
        }
        // Purchase prices of the suppliers cost-plus lists derive from.
        let supplier_ids: Vec<i64> = lists.iter().filter_map(|l| l.base_supplier_id).collect();
        let supplier_rows: Vec<crate::suppliers::SupplierPriceRow> = if supplier_ids.is_empty() {
            vec![]
        } else {
            use ordo_db::schema::supplier_prices;
            supplier_prices::table
                .filter(supplier_prices::supplier_id.eq_any(&supplier_ids))
                .filter(supplier_prices::item_id.eq_any(&price_ids))
                .select(crate::suppliers::SupplierPriceRow::as_select())
                .load(conn)?
        };
        let chain_ids: Vec<i64> = chain.iter().map(|c| c.id).collect();
        // Most customers have no prices of their own: which do is reference data.
        let special: Vec<CustomerPriceRow> = if chain_ids.iter().any(|c| reference.priced_customers.contains(c)) {
            customer_prices::table
                .filter(customer_prices::customer_id.eq_any(&chain_ids))
                .filter(customer_prices::item_id.eq_any(&item_ids))
                .select(CustomerPriceRow::as_select())
                .load(conn)?
        } else {
            vec![]
        };
        let discounts: Vec<GroupDiscountRow> = if groups.is_empty() {
            vec![]
        } else {
            group_discounts::table
                .filter(group_discounts::item_group_id.eq_any(&groups))
                .filter(group_discounts::customer_id.is_null().or(group_discounts::customer_id.eq_any(&chain_ids)))
                .select(GroupDiscountRow::as_select())
                .load(conn)?
        };
        let tax_ids: Vec<i64> = item_rows
            .iter()
            .filter_map(|r| r.4)
            .chain(shipping.iter().filter_map(|s| s.tax_rate_id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let taxes: Vec<TaxRateRow> = if tax_ids.is_empty() {
            vec![]
        } else {
            tax_rates::table.filter(tax_rates::id.eq_any(&tax_ids)).select(TaxRateRow::as_select()).load(conn)?
        };
        let mut currencies: BTreeSet<String> =
            lists.iter().map(|l| l.currency.clone()).chain(supplier_rows.iter().map(|p| p.currency.clone())).collect();
        currencies.insert(currency.code().to_string());
        currencies.insert(base_currency.code().to_string());
        let fx = crate::fx::load(conn, &currencies, date)?;
        let parse_currency =
            |c: &str| Currency::from_code(c).ok_or_else(|| DomainError::Internal(format!("currency {c}")));
        let item_costs: HashMap<i64, i64> = item_rows.iter().map(|r| (r.0, r.9)).collect();
        let facts = Facts {
            customers: chain.iter().map(customer_facts).collect::<Result<_>>()?,
            currency,
            base_currency,
            date,
            items: item_rows
                .into_iter()
                .map(|(id, sku, base_unit, item_group_id, tax_rate_id, active, weight, bundle, _, _)| {
                    let weight = weight.map(Quantity::from_scaled);
                    let bundle_pricing = BundlePricing::parse(&bundle).unwrap_or(BundlePricing::Own);
                    (id, ItemFacts { id, sku, base_unit, item_group_id, tax_rate_id, active, weight, bundle_pricing })
                })
                .collect(),
            lists: lists
                .iter()
                .map(|l| {
                    Ok(ListFacts {
                        id: l.id,
                        name: l.name.clone(),
                        currency: parse_currency(&l.currency)?,
                        prices_include_tax: l.prices_include_tax,
                        markup_percent: l.markup_percent.map(Rate::from_scaled),
                        base_supplier_id: l.base_supplier_id,
                    })
                })
                .collect::<Result<_>>()?,
            list_prices: list_prices
                .iter()
                .map(|p| PriceFacts {
                    id: p.id,
                    owner_id: p.price_list_id,
                    item_id: p.item_id,
                    unit: p.unit.clone(),
                    currency: None,
                    price: Money::from_scaled(p.price),
                    min_quantity: Quantity::from_scaled(p.min_quantity),
                    valid_from: p.valid_from,
                    valid_to: p.valid_to,
                })
                .collect(),
            customer_prices: special
                .iter()
                .map(|p| {
                    Ok(PriceFacts {
                        id: p.id,
                        owner_id: p.customer_id,
                        item_id: p.item_id,
                        unit: p.unit.clone(),
                        currency: Some(parse_currency(&p.currency)?),
                        price: Money::from_scaled(p.price),
                        min_quantity: Quantity::from_scaled(p.min_quantity),
                        valid_from: p.valid_from,
                        valid_to: p.valid_to,
                    })
                })
                .collect::<Result<_>>()?,
            supplier_prices: supplier_rows
                .iter()
                .map(|p| {
                    Ok(PriceFacts {
                        id: p.id,
                        owner_id: p.supplier_id,
                        item_id: p.item_id,
                        unit: p.unit.clone(),
                        currency: Some(parse_currency(&p.currency)?),
                        price: Money::from_scaled(p.price),
                        min_quantity: Quantity::from_scaled(p.min_quantity),
                        valid_from: p.valid_from,
                        valid_to: p.valid_to,
                    })
                })
                .collect::<Result<_>>()?,
            discounts: discounts
                .iter()
                .map(|d| DiscountFacts {
                    id: d.id,
                    customer_id: d.customer_id,
                    item_group_id: d.item_group_id,
                    percent: Rate::from_scaled(d.percent),
                    valid_from: d.valid_from,
                    valid_to: d.valid_to,
                })
                .collect(),
            taxes: taxes
                .iter()
                .map(|t| (t.id, TaxFacts { id: t.id, code: t.code.clone(), percent: Rate::from_scaled(t.percent) }))
                .collect(),
            fx,
            rules: rule_rows.iter().map(|r| Ok((r.id, r.to_create()?))).collect::<Result<_>>()?,
            coupon,
            customer_tags: serde_json::from_str(&chain[0].tags).unwrap_or_default(),
            shipping_rules: shipping.iter().map(|r| Ok((r.id, r.to_create()?))).collect::<Result<_>>()?,
            unit_decimals,
            conversions,
            components: component_rows.iter().fold(HashMap::new(), |mut m, c| {
                m.entry(c.0).or_insert_with(Vec::new).push(ComponentFacts {
                    component_item_id: c.1,
                    quantity: Quantity::from_scaled(c.2),
                    required: c.3,
                    price_override: c.4.map(Money::from_scaled),
                });
                m
            }),
            option_groups: option_groups.into_iter().fold(HashMap::new(), |mut m, (item, g)| {
                m.entry(item).or_insert_with(Vec::new).push(g);
                m
            }),
        };
        let mut quote = engine::price(&facts, req)?;
        quote.item_costs = item_costs;
        Ok(quote)
    }
}

#[cfg(test)]
mod tests {
    use super::price_lists::adjusted;
    use crate::model::PriceAdjustRequest;
    use ordo_core::{Money, Rate};

    fn req(pct: &str, step: Option<&str>, ending: Option<&str>) -> PriceAdjustRequest {
        PriceAdjustRequest {
            percent: Rate::parse(pct).unwrap(),
            item_group_id: None,
            rounding_step: step.map(|s| Money::parse(s).unwrap()),
            price_ending: ending.map(|s| Money::parse(s).unwrap()),
            dry_run: true,
        }
    }
    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn adjust_rounding() {
        assert_eq!(adjusted(m("10"), &req("10", None, None)).unwrap(), m("11"));
        assert_eq!(adjusted(m("10.37"), &req("0", Some("0.05"), None)).unwrap(), m("10.35"));
        assert_eq!(adjusted(m("10.38"), &req("0", Some("0.05"), None)).unwrap(), m("10.40"));
        assert_eq!(adjusted(m("10.375"), &req("0", Some("0.05"), None)).unwrap(), m("10.40"), "half away from zero");
        assert_eq!(adjusted(m("10.37"), &req("0", None, Some("0.99"))).unwrap(), m("9.99"));
        assert_eq!(adjusted(m("10.60"), &req("0", None, Some("0.99"))).unwrap(), m("10.99"));
        assert_eq!(adjusted(m("0.20"), &req("0", None, Some("0.99"))).unwrap(), m("0.99"), "never below zero");
        assert_eq!(adjusted(m("10"), &req("-100", None, None)).unwrap(), m("0"));
        assert_eq!(adjusted(m("3.3333"), &req("33.33333333", None, None)).unwrap(), m("4.4444"));
    }
}
