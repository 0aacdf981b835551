use ordo_core::{Money, Quantity, Rate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use validator::{Validate, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Kept in stock; deliveries move the stock ledger.
    Stock,
    /// A service: never stocked.
    Service,
    /// A physical good that is not tracked in stock.
    NonStock,
}

impl ItemKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemKind::Stock => "stock",
            ItemKind::Service => "service",
            ItemKind::NonStock => "non_stock",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stock" => Some(ItemKind::Stock),
            "service" => Some(ItemKind::Service),
            "non_stock" => Some(ItemKind::NonStock),
            _ => None,
        }
    }
}

pub fn unit_code(u: &str) -> Result<(), ValidationError> {
    if !u.is_empty() && u.len() <= 10 && u.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        Ok(())
    } else {
        let mut e = ValidationError::new("unit");
        e.message = Some("must be 1-10 upper-case letters, digits or _, like \"PCS\"".into());
        Err(e)
    }
}

pub fn sku_code(s: &str) -> Result<(), ValidationError> {
    if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| !c.is_whitespace() && !c.is_control()) {
        Ok(())
    } else {
        let mut e = ValidationError::new("sku");
        e.message = Some("must be 1-64 characters without spaces or control characters".into());
        Err(e)
    }
}

/// How a bundle (an item with components) is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BundlePricing {
    /// The item's own price (chosen optional components add theirs).
    Own,
    /// The sum of its components' prices.
    Components,
}

impl BundlePricing {
    pub fn as_str(&self) -> &'static str {
        match self {
            BundlePricing::Own => "own",
            BundlePricing::Components => "components",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "own" => Some(BundlePricing::Own),
            "components" => Some(BundlePricing::Components),
            _ => None,
        }
    }
}

/// Something the company sells.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub id: i64,
    /// Unique stock-keeping unit code.
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub item_group_id: Option<i64>,
    /// Base unit of measure code, e.g. `PCS`, `KG`.
    pub base_unit: String,
    pub kind: ItemKind,
    pub standard_cost: Money,
    /// Weight of one base unit in kilograms.
    pub weight: Option<Quantity>,
    pub active: bool,
    pub barcode: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<OffsetDateTime>,
    /// The item's tax category: the tax rate charged on it (none: untaxed).
    pub tax_rate_id: Option<i64>,
    pub bundle_pricing: BundlePricing,
    /// Stock may go below zero (refused with 422 `insufficient_stock` otherwise).
    pub allow_negative_stock: bool,
    /// How far deliveries may exceed the ordered quantity, in percent of it (0: never).
    pub over_delivery_tolerance: Rate,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemCreate {
    #[validate(custom(function = "sku_code"))]
    #[schema(min_length = 1, max_length = 64, pattern = "^\\S+$")]
    pub sku: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub description: Option<String>,
    pub item_group_id: Option<i64>,
    #[validate(custom(function = "unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub base_unit: String,
    pub kind: ItemKind,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub standard_cost: Option<Money>,
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub weight: Option<Quantity>,
    pub active: Option<bool>,
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub barcode: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    pub tax_rate_id: Option<i64>,
    /// Default `own`.
    pub bundle_pricing: Option<BundlePricing>,
    /// Default false.
    pub allow_negative_stock: Option<bool>,
    /// Percent of the ordered quantity a delivery may exceed it by; default 0.
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub over_delivery_tolerance: Option<Rate>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[validate(custom(function = "sku_code"))]
    #[schema(min_length = 1, max_length = 64, pattern = "^\\S+$")]
    pub sku: Option<String>,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub item_group_id: Option<Option<i64>>,
    #[validate(custom(function = "unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub base_unit: Option<String>,
    pub kind: Option<ItemKind>,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub standard_cost: Option<Money>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    #[schema(value_type = Option<Quantity>)]
    pub weight: Option<Option<Quantity>>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    #[schema(value_type = Option<String>)]
    pub barcode: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub tax_rate_id: Option<Option<i64>>,
    pub bundle_pricing: Option<BundlePricing>,
    pub allow_negative_stock: Option<bool>,
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub over_delivery_tolerance: Option<Rate>,
}

#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub q: Option<String>,
    pub item_group_id: Option<i64>,
    pub kind: Option<ItemKind>,
    pub active: Option<bool>,
    pub barcode: Option<String>,
    pub updated_since: Option<OffsetDateTime>,
    pub include_archived: bool,
}

/// A node of the item-group tree.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemGroup {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<i64>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemGroupCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    pub parent_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemGroupPatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 1000))]
    #[schema(max_length = 1000)]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<Option<i64>>,
}
