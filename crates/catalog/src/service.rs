//! Item and item-group use cases; each runs inside the caller's transaction.

use ordo_core::time_util::now;
use ordo_core::util::{check_version, json_text, to_json, Removal};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::DbConnection;

use crate::model::*;
use crate::repo::{self, NewItem, NewItemGroup};

pub const ITEM: &str = "item";
pub const ITEM_GROUP: &str = "item_group";

fn check_group_ref(conn: &mut DbConnection, id: i64) -> Result<()> {
    if repo::group_exists(conn, id)? {
        Ok(())
    } else {
        Err(DomainError::reference_not_found("item group", "item_group_id", id))
    }
}

fn check_tax_ref(conn: &mut DbConnection, id: i64) -> Result<()> {
    if repo::tax_rate_exists(conn, id)? {
        Ok(())
    } else {
        Err(DomainError::reference_not_found("tax rate", "tax_rate_id", id))
    }
}

pub fn create_item(conn: &mut DbConnection, caller: &Caller, input: ItemCreate) -> Result<Item> {
    caller.require(Permission::ItemsWrite)?;
    if let Some(g) = input.item_group_id {
        check_group_ref(conn, g)?;
    }
    if let Some(t) = input.tax_rate_id {
        check_tax_ref(conn, t)?;
    }
    crate::units::check_unit(conn, "base_unit", &input.base_unit)?;
    let ts = now();
    let row = repo::insert_item(
        conn,
        &NewItem {
            sku: input.sku,
            name: input.name.trim().to_string(),
            description: input.description,
            item_group_id: input.item_group_id,
            base_unit: input.base_unit,
            kind: input.kind.as_str().to_string(),
            standard_cost: input.standard_cost.unwrap_or_default().to_scaled(),
            weight: input.weight.map(|w| w.to_scaled()),
            active: input.active.unwrap_or(true),
            barcode: input.barcode,
            attributes: json_text(&input.attributes.unwrap_or_default()),
            version: 1,
            created_at: ts,
            updated_at: ts,
            tax_rate_id: input.tax_rate_id,
            bundle_pricing: input.bundle_pricing.unwrap_or(BundlePricing::Own).as_str().to_string(),
            allow_negative_stock: input.allow_negative_stock.unwrap_or(false),
            over_delivery_tolerance: input.over_delivery_tolerance.map(|r| r.to_scaled()).unwrap_or(0),
        },
    )?;
    let item = row.to_model()?;
    audit::record(conn, caller, ITEM, item.id, "create", &to_json(&item))?;
    Ok(item)
}

pub fn get_item(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Item> {
    caller.require(Permission::ItemsRead)?;
    repo::find_item(conn, id)?.to_model()
}

pub fn list_items(conn: &mut DbConnection, caller: &Caller, f: &ItemFilter, page: &PageRequest) -> Result<Page<Item>> {
    caller.require(Permission::ItemsRead)?;
    let rows = repo::list_items(conn, f, page)?;
    let data = rows.data.iter().map(|r| r.to_model()).collect::<Result<Vec<_>>>()?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

pub fn update_item(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: ItemPatch,
) -> Result<Item> {
    caller.require(Permission::ItemsWrite)?;
    let current = repo::find_item(conn, id)?;
    check_version(if_match, current.version)?;
    if current.archived_at.is_some() {
        return Err(DomainError::conflict("archived", format!("item {id} is archived and read-only")));
    }
    let mut row = current.clone();
    if let Some(g) = p.item_group_id {
        if let Some(g) = g {
            check_group_ref(conn, g)?;
        }
        row.item_group_id = g;
    }
    if let Some(v) = p.sku {
        row.sku = v;
    }
    if let Some(v) = p.name {
        row.name = v.trim().to_string();
    }
    if let Some(v) = p.description {
        row.description = v;
    }
    if let Some(v) = p.base_unit {
        crate::units::check_unit(conn, "base_unit", &v)?;
        row.base_unit = v;
    }
    if let Some(v) = p.kind {
        row.kind = v.as_str().to_string();
    }
    if let Some(v) = p.standard_cost {
        row.standard_cost = v.to_scaled();
    }
    if let Some(v) = p.weight {
        row.weight = v.map(|w| w.to_scaled());
    }
    if let Some(v) = p.active {
        row.active = v;
    }
    if let Some(v) = p.barcode {
        row.barcode = v;
    }
    if let Some(v) = p.attributes {
        row.attributes = json_text(&v);
    }
    if let Some(v) = p.tax_rate_id {
        if let Some(t) = v {
            check_tax_ref(conn, t)?;
        }
        row.tax_rate_id = v;
    }
    if let Some(v) = p.bundle_pricing {
        row.bundle_pricing = v.as_str().to_string();
    }
    if let Some(v) = p.allow_negative_stock {
        row.allow_negative_stock = v;
    }
    if let Some(v) = p.over_delivery_tolerance {
        row.over_delivery_tolerance = v.to_scaled();
    }
    row.version += 1;
    row.updated_at = now();
    let saved = repo::update_item(conn, &row, current.version)?.to_model()?;
    audit::record(conn, caller, ITEM, id, "update", &audit::diff(&to_json(&current.to_model()?), &to_json(&saved)))?;
    Ok(saved)
}

pub fn delete_item(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Item>> {
    caller.require(Permission::ItemsDelete)?;
    let current = repo::find_item(conn, id)?;
    check_version(if_match, current.version)?;
    if repo::item_is_referenced(conn, id)? {
        if current.archived_at.is_some() {
            return Ok(Removal::Archived(current.to_model()?));
        }
        let mut row = current.clone();
        row.archived_at = Some(now());
        row.updated_at = now();
        row.version += 1;
        let saved = repo::update_item(conn, &row, current.version)?.to_model()?;
        audit::record(conn, caller, ITEM, id, "archive", &serde_json::json!({}))?;
        return Ok(Removal::Archived(saved));
    }
    repo::delete_item(conn, id)?;
    audit::record(conn, caller, ITEM, id, "delete", &to_json(&current.to_model()?))?;
    Ok(Removal::Deleted)
}

pub fn item_history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    caller.require(Permission::ItemsRead)?;
    repo::find_item(conn, id)?;
    audit::history(conn, ITEM, id, page)
}

// ---- item groups --------------------------------------------------------------

fn check_group_parent(conn: &mut DbConnection, id: Option<i64>, parent: i64) -> Result<()> {
    if !repo::group_exists(conn, parent)? {
        return Err(DomainError::reference_not_found("item group", "parent_id", parent));
    }
    if let Some(id) = id {
        if repo::group_ancestors(conn, parent)?.contains(&id) {
            return Err(DomainError::field("parent_id", "cycle", "a group cannot be its own ancestor"));
        }
    }
    Ok(())
}

pub fn create_group(conn: &mut DbConnection, caller: &Caller, input: ItemGroupCreate) -> Result<ItemGroup> {
    caller.require(Permission::ItemsWrite)?;
    if let Some(p) = input.parent_id {
        check_group_parent(conn, None, p)?;
    }
    let ts = now();
    let g = repo::insert_group(
        conn,
        &NewItemGroup {
            name: input.name.trim().to_string(),
            description: input.description,
            parent_id: input.parent_id,
            version: 1,
            created_at: ts,
            updated_at: ts,
        },
    )?
    .to_model();
    audit::record(conn, caller, ITEM_GROUP, g.id, "create", &to_json(&g))?;
    Ok(g)
}

pub fn get_group(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ItemGroup> {
    caller.require(Permission::ItemsRead)?;
    Ok(repo::find_group(conn, id)?.to_model())
}

pub fn list_groups(
    conn: &mut DbConnection,
    caller: &Caller,
    parent_id: Option<i64>,
    page: &PageRequest,
) -> Result<Page<ItemGroup>> {
    caller.require(Permission::ItemsRead)?;
    Ok(repo::list_groups(conn, parent_id, page)?.map(|r| r.to_model()))
}

pub fn update_group(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: ItemGroupPatch,
) -> Result<ItemGroup> {
    caller.require(Permission::ItemsWrite)?;
    let current = repo::find_group(conn, id)?;
    check_version(if_match, current.version)?;
    let mut row = current.clone();
    if let Some(parent) = p.parent_id {
        if let Some(pid) = parent {
            check_group_parent(conn, Some(id), pid)?;
        }
        row.parent_id = parent;
    }
    if let Some(v) = p.name {
        row.name = v.trim().to_string();
    }
    if let Some(v) = p.description {
        row.description = v;
    }
    row.version += 1;
    row.updated_at = now();
    let saved = repo::update_group(conn, &row, current.version)?.to_model();
    audit::record(
        conn,
        caller,
        ITEM_GROUP,
        id,
        "update",
        &audit::diff(&to_json(&current.to_model()), &to_json(&saved)),
    )?;
    Ok(saved)
}

pub fn delete_group(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<()> {
    caller.require(Permission::ItemsDelete)?;
    let current = repo::find_group(conn, id)?;
    check_version(if_match, current.version)?;
    if repo::group_in_use(conn, id)? {
        return Err(DomainError::conflict(
            "in_use",
            format!("item group {id} still has items, subgroups, discounts or pricing rules"),
        ));
    }
    repo::delete_group(conn, id)?;
    audit::record(conn, caller, ITEM_GROUP, id, "delete", &to_json(&current.to_model()))?;
    Ok(())
}

pub fn group_history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    caller.require(Permission::ItemsRead)?;
    repo::find_group(conn, id)?;
    audit::history(conn, ITEM_GROUP, id, page)
}
