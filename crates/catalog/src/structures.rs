//! Product structures: an item made of components (required or optional, with a
//! quantity and an optional price override), and configurable option groups whose
//! choices add a price delta or a component. The price engine reads both.

use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::time_util::now;
use ordo_core::util::{check_version, json_text, to_json};
use ordo_core::{Caller, DomainError, FieldError, Money, Permission, Quantity, Result};
use ordo_core::{Page, PageRequest};
use ordo_db::audit;
use ordo_db::schema::{item_components, item_option_groups, items};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

pub const COMPONENT: &str = "item_component";
pub const OPTION_GROUP: &str = "item_option_group";

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemComponent {
    pub id: i64,
    pub item_id: i64,
    pub component_item_id: i64,
    /// Component units (its base unit) per unit of the item.
    pub quantity: Quantity,
    /// Optional components are chosen per document line.
    pub required: bool,
    /// Price per component unit inside this structure, instead of its list price.
    pub price_override: Option<Money>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemComponentCreate {
    pub component_item_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Default true.
    pub required: Option<bool>,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub price_override: Option<Money>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = item_components)]
pub struct ItemComponentRow {
    pub id: i64,
    pub item_id: i64,
    pub component_item_id: i64,
    pub quantity: i64,
    pub required: bool,
    pub price_override: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ItemComponentRow {
    pub fn to_model(&self) -> ItemComponent {
        ItemComponent {
            id: self.id,
            item_id: self.item_id,
            component_item_id: self.component_item_id,
            quantity: Quantity::from_scaled(self.quantity),
            required: self.required,
            price_override: self.price_override.map(Money::from_scaled),
            version: self.version,
            created_at: self.created_at.assume_utc(),
        }
    }
}

/// One choice of an option group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionChoice {
    #[validate(length(min = 1, max = 40))]
    #[schema(min_length = 1, max_length = 40)]
    pub code: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Added to the unit price when chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_delta: Option<Money>,
    /// A component this choice adds (priced like one), with its quantity per unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_item_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub component_quantity: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OptionGroup {
    pub id: i64,
    pub item_id: i64,
    /// e.g. `colour`; the key in a line's `options`.
    pub name: String,
    /// A line must choose one.
    pub required: bool,
    pub choices: Vec<OptionChoice>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionGroupCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    #[serde(default)]
    pub required: bool,
    #[validate(length(min = 1, max = 100), nested)]
    #[schema(min_items = 1, max_items = 100)]
    pub choices: Vec<OptionChoice>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = item_option_groups)]
pub struct OptionGroupRow {
    pub id: i64,
    pub item_id: i64,
    pub name: String,
    pub required: bool,
    pub choices: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl OptionGroupRow {
    pub fn to_model(&self) -> Result<OptionGroup> {
        Ok(OptionGroup {
            id: self.id,
            item_id: self.item_id,
            name: self.name.clone(),
            required: self.required,
            choices: serde_json::from_str(&self.choices)
                .map_err(|_| DomainError::Internal(format!("option group {}: choices unreadable", self.id)))?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
        })
    }
}

/// Keeps `items.has_structure` true exactly while the item has components or options.
fn refresh_flag(conn: &mut DbConnection, item_id: i64) -> Result<()> {
    let n: i64 = item_components::table.filter(item_components::item_id.eq(item_id)).count().get_result::<i64>(conn)?
        + item_option_groups::table.filter(item_option_groups::item_id.eq(item_id)).count().get_result::<i64>(conn)?;
    diesel::update(items::table.find(item_id)).set(items::has_structure.eq(n > 0)).execute(conn)?;
    Ok(())
}

fn item_exists(conn: &mut DbConnection, field: &str, id: i64) -> Result<()> {
    let n: i64 = items::table.find(id).count().get_result(conn)?;
    if n == 0 {
        return Err(DomainError::reference_not_found("item", field, id));
    }
    Ok(())
}

/// Merge-patch for a component: quantity, required, price override.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemComponentPatch {
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Option<Quantity>,
    pub required: Option<bool>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    #[schema(value_type = Option<Money>)]
    pub price_override: Option<Option<Money>>,
}

pub mod component_service {
    use super::*;

    fn find(conn: &mut DbConnection, item_id: i64, id: i64) -> Result<ItemComponentRow> {
        item_components::table
            .filter(item_components::id.eq(id))
            .filter(item_components::item_id.eq(item_id))
            .select(ItemComponentRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("component", id))
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        id: i64,
        if_match: Option<i64>,
        p: ItemComponentPatch,
    ) -> Result<ItemComponent> {
        caller.require(Permission::ItemsWrite)?;
        let current = find(conn, item_id, id)?;
        check_version(if_match, current.version)?;
        let quantity = p.quantity.map(|q| q.to_scaled()).unwrap_or(current.quantity);
        let required = p.required.unwrap_or(current.required);
        let price_override = match p.price_override {
            Some(v) => v.map(|m| m.to_scaled()),
            None => current.price_override,
        };
        let saved: ItemComponentRow = diesel::update(
            item_components::table
                .filter(item_components::id.eq(id))
                .filter(item_components::version.eq(current.version)),
        )
        .set((
            item_components::quantity.eq(quantity),
            item_components::required.eq(required),
            item_components::price_override.eq(price_override),
            item_components::version.eq(current.version + 1),
            item_components::updated_at.eq(now()),
        ))
        .returning(item_components::all_columns)
        .get_result(conn)
        .optional()?
        .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(
            conn,
            caller,
            COMPONENT,
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
    ) -> Result<Page<audit::Entry>> {
        caller.require(Permission::ItemsRead)?;
        find(conn, item_id, id)?;
        audit::history(conn, COMPONENT, id, page)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, item_id: i64) -> Result<Vec<ItemComponent>> {
        caller.require(Permission::ItemsRead)?;
        crate::repo::find_item(conn, item_id)?;
        let rows: Vec<ItemComponentRow> = item_components::table
            .filter(item_components::item_id.eq(item_id))
            .select(ItemComponentRow::as_select())
            .order(item_components::id.asc())
            .load(conn)?;
        Ok(rows.iter().map(|r| r.to_model()).collect())
    }

    /// A component must exist, and must not contain the item itself at any depth.
    pub fn create(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        input: ItemComponentCreate,
    ) -> Result<ItemComponent> {
        caller.require(Permission::ItemsWrite)?;
        crate::repo::find_item(conn, item_id)?;
        item_exists(conn, "component_item_id", input.component_item_id)?;
        // Walk down from the component: reaching the item would make a cycle.
        let mut frontier = vec![input.component_item_id];
        let mut seen = std::collections::BTreeSet::new();
        while !frontier.is_empty() {
            if frontier.contains(&item_id) {
                return Err(DomainError::field("component_item_id", "cycle", "the component contains this item"));
            }
            seen.extend(frontier.iter().copied());
            let next: Vec<i64> = item_components::table
                .filter(item_components::item_id.eq_any(&frontier))
                .select(item_components::component_item_id)
                .load(conn)?;
            frontier = next.into_iter().filter(|i| !seen.contains(i)).collect();
        }
        let ts = now();
        let row: ItemComponentRow = diesel::insert_into(item_components::table)
            .values((
                item_components::item_id.eq(item_id),
                item_components::component_item_id.eq(input.component_item_id),
                item_components::quantity.eq(input.quantity.to_scaled()),
                item_components::required.eq(input.required.unwrap_or(true)),
                item_components::price_override.eq(input.price_override.map(|m| m.to_scaled())),
                item_components::version.eq(1),
                item_components::created_at.eq(ts),
                item_components::updated_at.eq(ts),
            ))
            .returning(item_components::all_columns)
            .get_result(conn)
            .map_err(ordo_core::error::unique_as(
                "duplicate_component",
                "this component is already in the structure",
            ))?;
        refresh_flag(conn, item_id)?;
        let v = row.to_model();
        audit::record(conn, caller, COMPONENT, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn delete(conn: &mut DbConnection, caller: &Caller, item_id: i64, id: i64) -> Result<()> {
        caller.require(Permission::ItemsWrite)?;
        let row: ItemComponentRow = item_components::table
            .filter(item_components::id.eq(id))
            .filter(item_components::item_id.eq(item_id))
            .select(ItemComponentRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("component", id))?;
        diesel::delete(item_components::table.find(id)).execute(conn)?;
        refresh_flag(conn, item_id)?;
        audit::record(conn, caller, COMPONENT, id, "delete", &to_json(&row.to_model()))?;
        Ok(())
    }
}

pub mod option_service {
    use super::*;

    fn find(conn: &mut DbConnection, item_id: i64, id: i64) -> Result<OptionGroupRow> {
        item_option_groups::table
            .filter(item_option_groups::id.eq(id))
            .filter(item_option_groups::item_id.eq(item_id))
            .select(OptionGroupRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("option group", id))
    }

    /// Merge-patch of the group in its create shape (`choices` is replaced whole).
    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        id: i64,
        if_match: Option<i64>,
        p: MergePatch,
    ) -> Result<OptionGroup> {
        caller.require(Permission::ItemsWrite)?;
        let current = find(conn, item_id, id)?;
        check_version(if_match, current.version)?;
        let model = current.to_model()?;
        let shape =
            OptionGroupCreate { name: model.name.clone(), required: model.required, choices: model.choices.clone() };
        let next = patched(&shape, &p)?;
        check_choices(conn, &next)?;
        let saved: OptionGroupRow = diesel::update(
            item_option_groups::table
                .filter(item_option_groups::id.eq(id))
                .filter(item_option_groups::version.eq(current.version)),
        )
        .set((
            item_option_groups::name.eq(next.name.trim()),
            item_option_groups::required.eq(next.required),
            item_option_groups::choices.eq(json_text(&next.choices)),
            item_option_groups::version.eq(current.version + 1),
            item_option_groups::updated_at.eq(now()),
        ))
        .returning(item_option_groups::all_columns)
        .get_result(conn)
        .optional()
        .map_err(ordo_core::error::unique_as(
            "duplicate_option_group",
            "the item already has an option group with this name",
        ))?
        .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model()?;
        audit::record(conn, caller, OPTION_GROUP, id, "update", &audit::diff(&to_json(&model), &to_json(&v)))?;
        Ok(v)
    }

    pub fn history(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        id: i64,
        page: &PageRequest,
    ) -> Result<Page<audit::Entry>> {
        caller.require(Permission::ItemsRead)?;
        find(conn, item_id, id)?;
        audit::history(conn, OPTION_GROUP, id, page)
    }

    fn check_choices(conn: &mut DbConnection, input: &OptionGroupCreate) -> Result<()> {
        let mut errs = vec![];
        for (i, c) in input.choices.iter().enumerate() {
            if input.choices[..i].iter().any(|x| x.code == c.code) {
                errs.push(FieldError::new(
                    format!("choices[{i}].code"),
                    "duplicate",
                    "codes must be unique in a group",
                ));
            }
            if c.component_item_id.is_some() != c.component_quantity.is_some() {
                errs.push(FieldError::new(
                    format!("choices[{i}].component_quantity"),
                    "required",
                    "component_item_id and component_quantity go together",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        for (i, c) in input.choices.iter().enumerate() {
            if let Some(comp) = c.component_item_id {
                item_exists(conn, &format!("choices[{i}].component_item_id"), comp)?;
            }
        }
        Ok(())
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, item_id: i64) -> Result<Vec<OptionGroup>> {
        caller.require(Permission::ItemsRead)?;
        crate::repo::find_item(conn, item_id)?;
        let rows: Vec<OptionGroupRow> = item_option_groups::table
            .filter(item_option_groups::item_id.eq(item_id))
            .select(OptionGroupRow::as_select())
            .order(item_option_groups::id.asc())
            .load(conn)?;
        rows.iter().map(|r| r.to_model()).collect()
    }

    pub fn create(
        conn: &mut DbConnection,
        caller: &Caller,
        item_id: i64,
        input: OptionGroupCreate,
    ) -> Result<OptionGroup> {
        caller.require(Permission::ItemsWrite)?;
        crate::repo::find_item(conn, item_id)?;
        check_choices(conn, &input)?;
        let ts = now();
        let row: OptionGroupRow = diesel::insert_into(item_option_groups::table)
            .values((
                item_option_groups::item_id.eq(item_id),
                item_option_groups::name.eq(input.name.trim()),
                item_option_groups::required.eq(input.required),
                item_option_groups::choices.eq(json_text(&input.choices)),
                item_option_groups::version.eq(1),
                item_option_groups::created_at.eq(ts),
                item_option_groups::updated_at.eq(ts),
            ))
            .returning(item_option_groups::all_columns)
            .get_result(conn)
            .map_err(ordo_core::error::unique_as(
                "duplicate_option_group",
                "the item already has an option group with this name",
            ))?;
        refresh_flag(conn, item_id)?;
        let v = row.to_model()?;
        audit::record(conn, caller, OPTION_GROUP, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn delete(conn: &mut DbConnection, caller: &Caller, item_id: i64, id: i64) -> Result<()> {
        caller.require(Permission::ItemsWrite)?;
        let row: OptionGroupRow = item_option_groups::table
            .filter(item_option_groups::id.eq(id))
            .filter(item_option_groups::item_id.eq(item_id))
            .select(OptionGroupRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("option group", id))?;
        diesel::delete(item_option_groups::table.find(id)).execute(conn)?;
        refresh_flag(conn, item_id)?;
        audit::record(conn, caller, OPTION_GROUP, id, "delete", &to_json(&row.to_model()?))?;
        Ok(())
    }
}
