//! Diesel rows and queries for items and item groups.

use diesel::prelude::*;
use ordo_core::error::unique_as;
use ordo_core::{DomainError, Money, Page, PageRequest, Quantity, Rate, Result};
use ordo_db::schema::{item_groups, items, tax_rates};
use ordo_db::sql::{like_pattern, lower};
use ordo_db::DbConnection;
use time::PrimitiveDateTime;

use crate::model::{BundlePricing, Item, ItemFilter, ItemGroup, ItemKind};

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = items, treat_none_as_null = true)]
pub struct ItemRow {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub item_group_id: Option<i64>,
    pub base_unit: String,
    pub kind: String,
    pub standard_cost: i64,
    pub weight: Option<i64>,
    pub active: bool,
    pub barcode: Option<String>,
    pub attributes: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub archived_at: Option<PrimitiveDateTime>,
    pub tax_rate_id: Option<i64>,
    pub bundle_pricing: String,
    pub has_structure: bool,
    pub allow_negative_stock: bool,
    pub over_delivery_tolerance: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = items)]
pub struct NewItem {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub item_group_id: Option<i64>,
    pub base_unit: String,
    pub kind: String,
    pub standard_cost: i64,
    pub weight: Option<i64>,
    pub active: bool,
    pub barcode: Option<String>,
    pub attributes: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub tax_rate_id: Option<i64>,
    pub bundle_pricing: String,
    pub allow_negative_stock: bool,
    pub over_delivery_tolerance: i64,
}

impl ItemRow {
    pub fn to_model(&self) -> Result<Item> {
        let corrupt = |what: &str| DomainError::Internal(format!("item {}: stored {what} is unreadable", self.id));
        Ok(Item {
            id: self.id,
            sku: self.sku.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            item_group_id: self.item_group_id,
            base_unit: self.base_unit.clone(),
            kind: ItemKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            standard_cost: Money::from_scaled(self.standard_cost),
            weight: self.weight.map(Quantity::from_scaled),
            active: self.active,
            barcode: self.barcode.clone(),
            attributes: serde_json::from_str(&self.attributes).map_err(|_| corrupt("attributes"))?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
            archived_at: self.archived_at.map(|t| t.assume_utc()),
            tax_rate_id: self.tax_rate_id,
            bundle_pricing: BundlePricing::parse(&self.bundle_pricing).ok_or_else(|| corrupt("bundle_pricing"))?,
            allow_negative_stock: self.allow_negative_stock,
            over_delivery_tolerance: Rate::from_scaled(self.over_delivery_tolerance),
        })
    }
}

pub fn find_item(conn: &mut DbConnection, id: i64) -> Result<ItemRow> {
    items::table
        .find(id)
        .select(ItemRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("item", id))
}

pub fn insert_item(conn: &mut DbConnection, row: &NewItem) -> Result<ItemRow> {
    diesel::insert_into(items::table)
        .values(row)
        .returning(items::all_columns)
        .get_result(conn)
        .map_err(unique_as("duplicate_sku", "another item already has this SKU"))
}

pub fn update_item(conn: &mut DbConnection, row: &ItemRow, expected_version: i64) -> Result<ItemRow> {
    diesel::update(items::table.filter(items::id.eq(row.id)).filter(items::version.eq(expected_version)))
        .set(row)
        .returning(items::all_columns)
        .get_result(conn)
        .optional()
        .map_err(unique_as("duplicate_sku", "another item already has this SKU"))?
        .ok_or_else(|| DomainError::stale_version(expected_version))
}

pub fn list_items(conn: &mut DbConnection, f: &ItemFilter, page: &PageRequest) -> Result<Page<ItemRow>> {
    let build = || {
        let mut q = items::table.select(ItemRow::as_select()).into_boxed();
        if !f.include_archived {
            q = q.filter(items::archived_at.is_null());
        }
        if let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let pat = like_pattern(text);
            q = q
                .filter(lower(items::name).like(pat.clone()).escape('\\').or(lower(items::sku).like(pat).escape('\\')));
        }
        if let Some(g) = f.item_group_id {
            q = q.filter(items::item_group_id.eq(g));
        }
        if let Some(k) = f.kind {
            q = q.filter(items::kind.eq(k.as_str()));
        }
        if let Some(a) = f.active {
            q = q.filter(items::active.eq(a));
        }
        if let Some(b) = f.barcode.as_deref() {
            q = q.filter(items::barcode.eq(b.to_string()));
        }
        if let Some(since) = f.updated_since {
            q = q.filter(items::updated_at.ge(ordo_core::time_util::from_offset(since)));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = ordo_db::keyset_page!(conn, build(), page, items::id => |r: &ItemRow| r.id,
        "sku" => items::sku: String = |r: &ItemRow| r.sku.clone(),
        "name" => items::name: String = |r: &ItemRow| r.name.clone(),
        "created_at" => items::created_at: time::PrimitiveDateTime = |r: &ItemRow| r.created_at,
        "updated_at" => items::updated_at: time::PrimitiveDateTime = |r: &ItemRow| r.updated_at,
    );
    rows.total = total;
    Ok(rows)
}

/// Whether anything refers to the item (prices, special prices, pricing rules; later
/// domains add their document lines here). A referenced item is archived, not deleted.
pub fn item_is_referenced(conn: &mut DbConnection, id: i64) -> Result<bool> {
    use ordo_db::schema::{customer_prices, document_lines, item_prices, opportunity_items, pricing_rules};
    let prices: i64 = item_prices::table.filter(item_prices::item_id.eq(id)).count().get_result(conn)?;
    // Sales documents and opportunities keep their items: archive rather than delete.
    let lines: i64 = document_lines::table.filter(document_lines::item_id.eq(id)).count().get_result(conn)?;
    let interest: i64 = opportunity_items::table.filter(opportunity_items::item_id.eq(id)).count().get_result(conn)?;
    let special: i64 = customer_prices::table.filter(customer_prices::item_id.eq(id)).count().get_result(conn)?;
    let rules: i64 = pricing_rules::table
        .filter(pricing_rules::item_id.eq(id).or(pricing_rules::free_item_id.eq(id)))
        .count()
        .get_result(conn)?;
    Ok(prices + special + rules + lines + interest > 0)
}

pub fn delete_item(conn: &mut DbConnection, id: i64) -> Result<()> {
    diesel::delete(items::table.find(id)).execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = item_groups, treat_none_as_null = true)]
pub struct ItemGroupRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = item_groups)]
pub struct NewItemGroup {
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ItemGroupRow {
    pub fn to_model(&self) -> ItemGroup {
        ItemGroup {
            id: self.id,
            name: self.name.clone(),
            description: self.description.clone(),
            parent_id: self.parent_id,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

pub fn find_group(conn: &mut DbConnection, id: i64) -> Result<ItemGroupRow> {
    item_groups::table
        .find(id)
        .select(ItemGroupRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("item group", id))
}

pub fn tax_rate_exists(conn: &mut DbConnection, id: i64) -> Result<bool> {
    Ok(tax_rates::table.find(id).count().get_result::<i64>(conn)? > 0)
}

pub fn group_exists(conn: &mut DbConnection, id: i64) -> Result<bool> {
    Ok(item_groups::table.find(id).count().get_result::<i64>(conn)? > 0)
}

pub fn insert_group(conn: &mut DbConnection, row: &NewItemGroup) -> Result<ItemGroupRow> {
    diesel::insert_into(item_groups::table)
        .values(row)
        .returning(item_groups::all_columns)
        .get_result(conn)
        .map_err(unique_as("duplicate_name", "another item group already has this name"))
}

pub fn update_group(conn: &mut DbConnection, row: &ItemGroupRow, expected_version: i64) -> Result<ItemGroupRow> {
    diesel::update(
        item_groups::table.filter(item_groups::id.eq(row.id)).filter(item_groups::version.eq(expected_version)),
    )
    .set(row)
    .returning(item_groups::all_columns)
    .get_result(conn)
    .optional()
    .map_err(unique_as("duplicate_name", "another item group already has this name"))?
    .ok_or_else(|| DomainError::stale_version(expected_version))
}

pub fn list_groups(conn: &mut DbConnection, parent_id: Option<i64>, page: &PageRequest) -> Result<Page<ItemGroupRow>> {
    let mut q = item_groups::table.select(ItemGroupRow::as_select()).into_boxed();
    if let Some(p) = parent_id {
        q = q.filter(item_groups::parent_id.eq(p));
    }
    Ok(Page::from_rows(ordo_db::keyset!(q, page, item_groups::id).load(conn)?, page, |r| r.id))
}

/// The parent chain of `start`, nearest first.
pub fn group_ancestors(conn: &mut DbConnection, start: i64) -> Result<Vec<i64>> {
    ordo_core::validate::ancestors(start, |id| {
        let parent: Option<Option<i64>> =
            item_groups::table.find(id).select(item_groups::parent_id).first(conn).optional()?;
        Ok(parent.flatten())
    })
}

/// Groups are configuration: they cannot be deleted while items or subgroups use them.
pub fn group_in_use(conn: &mut DbConnection, id: i64) -> Result<bool> {
    let children: i64 = item_groups::table.filter(item_groups::parent_id.eq(id)).count().get_result(conn)?;
    let members: i64 = items::table.filter(items::item_group_id.eq(id)).count().get_result(conn)?;
    use ordo_db::schema::{group_discounts, pricing_rules};
    let discounts: i64 =
        group_discounts::table.filter(group_discounts::item_group_id.eq(id)).count().get_result(conn)?;
    let rules: i64 = pricing_rules::table.filter(pricing_rules::item_group_id.eq(id)).count().get_result(conn)?;
    Ok(children + members + discounts + rules > 0)
}

pub fn delete_group(conn: &mut DbConnection, id: i64) -> Result<()> {
    diesel::delete(item_groups::table.find(id)).execute(conn)?;
    Ok(())
}
