use ordo_core::{Currency, Money, Quantity, Rate};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use validator::{Validate, ValidationError};

fn err(code: &'static str, msg: &'static str) -> ValidationError {
    let mut e = ValidationError::new(code);
    e.message = Some(msg.into());
    e
}

pub fn positive_rate(r: &Rate) -> Result<(), ValidationError> {
    if r.value() <= rust_decimal::Decimal::ZERO {
        return Err(err("range", "must be greater than 0"));
    }
    Ok(())
}

pub fn markup(r: &Rate) -> Result<(), ValidationError> {
    if r.value() < rust_decimal::Decimal::from(-100) {
        return Err(err("range", "must be at least -100"));
    }
    Ok(())
}

/// Validity `[valid_from, valid_to]`, both inclusive, both optional.
pub fn validity(from: Option<Date>, to: Option<Date>) -> Result<(), ordo_core::DomainError> {
    match (from, to) {
        (Some(f), Some(t)) if t < f => {
            Err(ordo_core::DomainError::field("valid_to", "range", "must not be before valid_from"))
        }
        _ => Ok(()),
    }
}

/// A company currency with its minor units.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurrencyInfo {
    pub code: Currency,
    /// Digits after the decimal point (JPY 0, EUR 2, KWD 3); document totals round to these.
    pub minor_units: u8,
    /// True for the company's base currency (`ORDO_BASE_CURRENCY`).
    pub base: bool,
}

/// One unit of `from_currency` costs `rate` units of `to_currency`, from `valid_from` on.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExchangeRate {
    pub id: i64,
    pub from_currency: Currency,
    pub to_currency: Currency,
    /// Units of `to_currency` per unit of `from_currency`, 8 decimals. Converting the
    /// other way uses the inverse rounded to 8 decimals (half away from zero).
    pub rate: Rate,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRateCreate {
    pub from_currency: Currency,
    pub to_currency: Currency,
    #[validate(custom(function = "positive_rate"))]
    pub rate: Rate,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRatePatch {
    #[validate(custom(function = "positive_rate"))]
    pub rate: Option<Rate>,
}

/// A sales tax rate (e.g. VAT 23%).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TaxRate {
    pub id: i64,
    /// Short unique code, e.g. `VAT23`.
    pub code: String,
    pub name: String,
    pub percent: Rate,
    pub active: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateCreate {
    #[validate(length(min = 1, max = 20))]
    #[schema(min_length = 1, max_length = 20)]
    pub code: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub percent: Rate,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRatePatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub percent: Option<Rate>,
    pub active: Option<bool>,
}

/// A price list: prices in one currency, net or tax-inclusive, optionally derived
/// from another list or from a supplier's purchase prices, plus a markup.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PriceList {
    pub id: i64,
    pub name: String,
    pub currency: Currency,
    /// Gross list: prices include tax.
    pub prices_include_tax: bool,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    /// Prices missing here come from this list, times (1 + markup_percent/100).
    pub base_price_list_id: Option<i64>,
    /// Or from this supplier's purchase prices (cost-plus), converted into the
    /// document currency at the date's exchange rate, times (1 + markup_percent/100).
    pub base_supplier_id: Option<i64>,
    /// Percent on the base price (up to 8 decimals); none means the base price as is.
    pub markup_percent: Option<Rate>,
    pub active: bool,
    /// The list for customers without one of their own (at most one).
    pub is_default: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub currency: Currency,
    #[serde(default)]
    pub prices_include_tax: bool,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    /// Prices missing here come from this list (not together with `base_supplier_id`).
    pub base_price_list_id: Option<i64>,
    /// Prices missing here are this supplier's purchase prices plus the markup.
    pub base_supplier_id: Option<i64>,
    /// Percent on the base price; none means 0.
    #[validate(custom(function = "markup"))]
    pub markup_percent: Option<Rate>,
    pub active: Option<bool>,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListPatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    pub prices_include_tax: Option<bool>,
    #[serde(default, deserialize_with = "date_patch")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Option<Date>>,
    #[serde(default, deserialize_with = "date_patch")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Option<Date>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub base_price_list_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub base_supplier_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "markup"))]
    #[schema(value_type = Option<Rate>)]
    pub markup_percent: Option<Option<Rate>>,
    pub active: Option<bool>,
    pub is_default: Option<bool>,
}

/// Merge-patch for an optional date: absent, `null`, or `YYYY-MM-DD`.
pub fn date_patch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Date>>, D::Error> {
    ordo_core::serde_util::date::option::deserialize(d).map(Some)
}

/// One price of an item on a list: from `min_quantity` on (a tier), in `unit`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemPrice {
    pub id: i64,
    pub price_list_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub price: Money,
    pub min_quantity: Quantity,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPriceCreate {
    pub item_id: i64,
    /// Defaults to the item's base unit.
    #[validate(custom(function = "ordo_catalog::model::unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: Option<String>,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub price: Money,
    /// Tier start; default 0 (any quantity).
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub min_quantity: Option<Quantity>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemPricePatch {
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub price: Option<Money>,
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub min_quantity: Option<Quantity>,
    #[serde(default, deserialize_with = "date_patch")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Option<Date>>,
    #[serde(default, deserialize_with = "date_patch")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Option<Date>>,
}

impl ItemPricePatch {
    /// Applies the patch to a price row's fields (list and special prices share them)
    /// and checks the resulting validity range.
    pub fn apply(
        &self,
        price: &mut i64,
        min_quantity: &mut i64,
        valid_from: &mut Option<Date>,
        valid_to: &mut Option<Date>,
    ) -> Result<(), ordo_core::DomainError> {
        if let Some(v) = self.price {
            *price = v.to_scaled();
        }
        if let Some(v) = self.min_quantity {
            *min_quantity = v.to_scaled();
        }
        if let Some(v) = self.valid_from {
            *valid_from = v;
        }
        if let Some(v) = self.valid_to {
            *valid_to = v;
        }
        validity(*valid_from, *valid_to)
    }
}

/// A price agreed with one customer for one item; beats list prices and is not discounted.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerPrice {
    pub id: i64,
    pub customer_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub currency: Currency,
    pub price: Money,
    pub min_quantity: Quantity,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPriceCreate {
    pub item_id: i64,
    #[validate(custom(function = "ordo_catalog::model::unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: Option<String>,
    /// Defaults to the customer's currency.
    pub currency: Option<Currency>,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub price: Money,
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub min_quantity: Option<Quantity>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
}

/// A discount on an item group, for one customer or (without `customer_id`) for all.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupDiscount {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub item_group_id: i64,
    pub percent: Rate,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupDiscountCreate {
    pub customer_id: Option<i64>,
    pub item_group_id: i64,
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub percent: Rate,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupDiscountPatch {
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub percent: Option<Rate>,
    #[serde(default, deserialize_with = "date_patch")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Option<Date>>,
    #[serde(default, deserialize_with = "date_patch")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Option<Date>>,
}

// ---- the price engine's request and answer ---------------------------------------

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub customer_id: i64,
    /// Document currency; default the customer's.
    pub currency: Option<Currency>,
    /// Document date; default today (UTC).
    #[serde(default, with = "ordo_core::serde_util::date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
    /// Price from this list instead of the customer's (its base lists still apply).
    #[serde(default)]
    pub price_list_id: Option<i64>,
    #[validate(length(min = 1, max = 1000), nested)]
    #[schema(min_items = 1, max_items = 1000)]
    pub lines: Vec<QuoteLineRequest>,
    /// Unlocks the coupon's pricing rule (case-insensitive).
    #[validate(length(min = 1, max = 40))]
    pub coupon_code: Option<String>,
    /// Campaign the document belongs to, as quotations and orders name it (matches
    /// rules with that campaign's `campaign_code`).
    #[serde(default)]
    pub campaign_id: Option<i64>,
    /// The same by code (give one of the two; both must agree).
    #[validate(length(min = 1, max = 50))]
    pub campaign_code: Option<String>,
    /// Sales territory, as quotations and orders name it (matches rules with that
    /// territory's name in `territory`).
    #[serde(default)]
    pub territory_id: Option<i64>,
    /// The same by name (give one of the two; both must agree).
    #[validate(length(min = 1, max = 50))]
    pub territory: Option<String>,
    /// ISO 3166-1 alpha-2: charge shipping by the first matching shipping rule.
    #[validate(custom(function = "ordo_core::validate::country_code"))]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub shipping_country: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteLineRequest {
    pub item_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Default: the item's base unit.
    #[validate(custom(function = "ordo_catalog::model::unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: Option<String>,
    /// Chosen options of a configurable item: option group name → choice code.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub options: std::collections::BTreeMap<String, String>,
    /// Optional components chosen for a bundle (component item ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<i64>,
}

/// Where a line's base price came from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PriceSource {
    /// A customer special price.
    CustomerPrice { customer_price_id: i64, customer_id: i64, min_quantity: Quantity },
    /// A price on a list (`price_list_id`), possibly the tier from `min_quantity`.
    PriceList { price_list_id: i64, item_price_id: i64, min_quantity: Quantity },
    /// A list derived from `base_price_list_id` with a markup.
    DerivedPriceList {
        price_list_id: i64,
        base_price_list_id: i64,
        item_price_id: i64,
        markup_percent: Rate,
        min_quantity: Quantity,
    },
    /// A cost-plus list: the supplier's purchase price with the markup, converted into
    /// the document currency at the date's rate.
    SupplierPrice {
        price_list_id: i64,
        supplier_id: i64,
        supplier_price_id: i64,
        markup_percent: Rate,
        min_quantity: Quantity,
    },
    /// A free item added by a pricing rule.
    FreeItem { pricing_rule_id: i64 },
    /// A bundle priced as the sum of its components (see `components`).
    Components,
}

/// One component inside a bundle line, per unit of the line.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ComponentPrice {
    pub item_id: i64,
    pub quantity: Quantity,
    /// Price per component unit (override or list price), in the document currency.
    pub unit_price: Money,
    pub required: bool,
    /// Set when an option choice brought the component in.
    pub option: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChosenOption {
    pub group: String,
    pub code: String,
    pub price_delta: Money,
}

/// One step that changed a line's price.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Adjustment {
    /// `rule_fixed_price`, `rule_discount`, `group_discount` or `customer_discount`.
    pub kind: String,
    /// The discount record, when there is one.
    pub source_id: Option<i64>,
    pub percent: Rate,
    /// Amount taken off the line (positive), in the document currency, at 4 decimals.
    pub amount: Money,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QuotedLine {
    pub line: usize,
    pub item_id: i64,
    pub quantity: Quantity,
    pub unit: String,
    /// The quantity in the item's base unit.
    pub base_quantity: Quantity,
    /// Unit price before discounts, in the document currency, as found (net or gross per
    /// the list). Intermediate precision: unit prices (after markup and currency
    /// conversion) and each discount step are kept at 4 decimals; only the line's net,
    /// tax and gross round to the currency's minor unit (half away from zero).
    pub base_unit_price: Money,
    pub source: PriceSource,
    /// A bundle's components, summarised per unit (empty for plain items).
    pub components: Vec<ComponentPrice>,
    pub options: Vec<ChosenOption>,
    pub adjustments: Vec<Adjustment>,
    pub tax_rate_id: Option<i64>,
    pub tax_percent: Rate,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    pub discount: Money,
}

/// What one tax rate applies to, and its tax, in the document and the base currency.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TaxTotal {
    pub tax_rate_id: Option<i64>,
    pub percent: Rate,
    pub net: Money,
    pub tax: Money,
    /// `net` converted to the base currency and rounded to its minor unit.
    pub base_net: Money,
    /// `tax` converted the same way (not derived from `base_net`).
    pub base_tax: Money,
}

/// The shipping charge from the first matching shipping rule.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShippingLine {
    pub shipping_rule_id: i64,
    pub net: Money,
    pub tax_rate_id: Option<i64>,
    pub tax: Money,
    pub gross: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppliedCoupon {
    pub code: String,
    pub pricing_rule_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QuoteTotals {
    /// Lines plus shipping, after discounts, before tax.
    pub net: Money,
    pub shipping: Money,
    pub discount: Money,
    pub tax: Money,
    pub gross: Money,
    pub taxes: Vec<TaxTotal>,
}

/// The totals in the company's base currency. Per tax rate, net and tax are each
/// converted and rounded to the base currency's minor unit (half away from zero); the
/// totals are their sums and gross is net + tax, so the three always add up.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BaseCurrencyTotals {
    pub currency: Currency,
    /// Units of base currency per unit of document currency (8 decimals; where only
    /// the reverse rate is stored, its inverse rounded to 8 decimals).
    pub rate: Rate,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// A priced basket. Nothing is written.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Quote {
    pub customer_id: i64,
    pub currency: Currency,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// The price list the customer's prices come from, if any.
    pub price_list_id: Option<i64>,
    pub lines: Vec<QuotedLine>,
    pub shipping: Option<ShippingLine>,
    pub coupon: Option<AppliedCoupon>,
    pub totals: QuoteTotals,
    pub base_currency: BaseCurrencyTotals,
    /// Readable steps: why each price is what it is.
    pub explanation: Vec<String>,
    /// The quoted items' standard costs (scaled), for documents that keep a planned
    /// cost per line; not part of the answer.
    #[serde(skip)]
    pub item_costs: std::collections::HashMap<i64, i64>,
}

/// `POST /price-lists/{id}/adjust`: raise or lower prices by a percentage.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceAdjustRequest {
    /// +/- percent, at least -100.
    #[validate(custom(function = "markup"))]
    pub percent: Rate,
    /// Only items of this group.
    pub item_group_id: Option<i64>,
    /// Round the new price to a multiple of this step (e.g. `0.05`).
    #[validate(custom(function = "positive_money"))]
    pub rounding_step: Option<Money>,
    /// Or give every new price this ending (e.g. `0.99`): the nearest such price.
    #[validate(custom(function = "ending"))]
    pub price_ending: Option<Money>,
    /// Answer the before/after table without writing.
    #[serde(default)]
    pub dry_run: bool,
}

pub fn positive_money(m: &Money) -> Result<(), ValidationError> {
    if m.value() <= rust_decimal::Decimal::ZERO {
        return Err(err("range", "must be greater than 0"));
    }
    Ok(())
}

pub fn ending(m: &Money) -> Result<(), ValidationError> {
    if m.is_negative() || m.value() >= rust_decimal::Decimal::ONE {
        return Err(err("range", "must be a fraction from 0 to below 1, like 0.99"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PriceChange {
    pub item_price_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub min_quantity: Quantity,
    pub before: Money,
    pub after: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PriceAdjustResult {
    pub price_list_id: i64,
    pub dry_run: bool,
    /// Prices changed (or that would change).
    pub count: usize,
    pub changes: Vec<PriceChange>,
}
