//! The price engine: a pure function from loaded facts to a priced, explained basket.
//! All database reads happen before it runs (a constant number of them), so it can
//! be unit-tested exhaustively and costs no statements per line.
//!
//! Precedence, per line:
//! 1. A customer special price (the customer's own, then its parent chain's) for the
//!    item, unit and document currency, valid on the date, highest tier whose
//!    `min_quantity` ≤ quantity. Special prices are final: no discounts apply.
//! 2. Otherwise the effective price list (the customer's, else the nearest parent's,
//!    else the default list): its own price for the item and unit (highest tier), else
//!    its base list's price times (1 + markup/100), recursively.
//! 3. Pricing rules that match the line (target, customer, tag, campaign, territory,
//!    quantity, line and order amount, dates; coupon-only rules need their coupon), in
//!    `priority` order (lower first, then id): a fixed price replaces the unit price, a
//!    discount takes a percent or an amount per unit off what is left, a free-item rule
//!    adds a free line. An `exclusive` rule that applies stops later rules and step 4.
//! 4. Standard discounts on list prices, in order: the item group's discount
//!    (customer-specific beats all-customers), then the customer's general discount,
//!    each on the amount left by the previous one.
//! 5. Tax: the item's tax rate, zero for exempt and reverse-charge customers. On a gross
//!    list the tax is taken out of the price.
//! 6. Shipping: the first active shipping rule (priority, then id) for the country, the
//!    document currency and the basis range; free from `free_above` net.
//!
//! Rounding: line net, tax and gross round to the currency's minor unit, half away from
//! zero, per line; totals are sums of rounded lines.

use ordo_core::{Currency, DomainError, FieldError, Money, Quantity, Rate, Result};
use ordo_crm::model::TaxTreatment;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;
use time::Date;

use crate::model::*;
use crate::rules::{PricingRuleCreate, RuleAction, ShippingBasis, ShippingChargeKind, ShippingRuleCreate};
use ordo_catalog::model::BundlePricing;
use ordo_catalog::structures::OptionChoice;

pub fn round_to(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

fn money(d: Decimal) -> Result<Money> {
    Money::new(round_to(d, Money::SCALE))
        .map_err(|e| ordo_core::error::amount_out_of_range("lines", format!("a computed amount is out of range: {e}")))
}

/// A product of a client's numbers (a price times a quantity) that storage can hold:
/// refused before it is used further, where a product could overflow `Decimal` itself.
fn in_range(product: Option<Decimal>) -> Result<Decimal> {
    product.filter(|d| d.abs() < Decimal::from(10i64.pow(Money::INTEGER_DIGITS))).ok_or_else(|| {
        ordo_core::error::amount_out_of_range(
            "lines",
            format!(
                "a computed amount is out of range: at most {} digits before the decimal point are allowed",
                Money::INTEGER_DIGITS
            ),
        )
    })
}

fn valid_on(from: Option<Date>, to: Option<Date>, d: Date) -> bool {
    from.is_none_or(|f| f <= d) && to.is_none_or(|t| d <= t)
}

#[derive(Debug, Clone)]
pub struct CustomerFacts {
    pub id: i64,
    pub name: String,
    pub currency: Currency,
    pub tax_treatment: TaxTreatment,
    pub discount_percent: Option<Rate>,
}

#[derive(Debug, Clone)]
pub struct ItemFacts {
    pub id: i64,
    pub sku: String,
    pub base_unit: String,
    pub item_group_id: Option<i64>,
    pub tax_rate_id: Option<i64>,
    pub active: bool,
    /// kg per base unit
    pub weight: Option<Quantity>,
    pub bundle_pricing: BundlePricing,
}

#[derive(Debug, Clone)]
pub struct ComponentFacts {
    pub component_item_id: i64,
    pub quantity: Quantity,
    pub required: bool,
    pub price_override: Option<Money>,
}

#[derive(Debug, Clone)]
pub struct OptionGroupFacts {
    pub name: String,
    pub required: bool,
    pub choices: Vec<OptionChoice>,
}

#[derive(Debug, Clone)]
pub struct ListFacts {
    pub id: i64,
    pub name: String,
    pub currency: Currency,
    pub prices_include_tax: bool,
    pub markup_percent: Option<Rate>,
    /// A cost-plus list: what it lacks is this supplier's purchase price plus markup.
    pub base_supplier_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct PriceFacts {
    pub id: i64,
    pub owner_id: i64,
    pub item_id: i64,
    pub unit: String,
    pub currency: Option<Currency>,
    pub price: Money,
    pub min_quantity: Quantity,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
}

#[derive(Debug, Clone)]
pub struct DiscountFacts {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub item_group_id: i64,
    pub percent: Rate,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
}

#[derive(Debug, Clone)]
pub struct TaxFacts {
    pub id: i64,
    pub code: String,
    pub percent: Rate,
}

/// Everything the engine needs, loaded up front.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The customer first, then its parents (nearest first).
    pub customers: Vec<CustomerFacts>,
    pub currency: Currency,
    pub base_currency: Currency,
    pub date: Date,
    pub items: HashMap<i64, ItemFacts>,
    /// The effective list first, then its base lists.
    pub lists: Vec<ListFacts>,
    /// Item prices of those lists (`owner_id` = list id).
    pub list_prices: Vec<PriceFacts>,
    /// Special prices of the customer chain (`owner_id` = customer id).
    pub customer_prices: Vec<PriceFacts>,
    /// Purchase prices of the suppliers cost-plus lists in the chain derive from
    /// (`owner_id` = supplier id, each with its currency).
    pub supplier_prices: Vec<PriceFacts>,
    pub discounts: Vec<DiscountFacts>,
    pub taxes: HashMap<i64, TaxFacts>,
    /// Exchange rates valid on the date, as (from, to) → rate, newest per pair.
    pub fx: HashMap<(String, String), Rate>,
    /// Candidate pricing rules (active ones that may target these lines).
    pub rules: Vec<(i64, PricingRuleCreate)>,
    /// A validated coupon and the rule it unlocks.
    pub coupon: Option<AppliedCoupon>,
    /// The customer's tags (for rules with `customer_tag`).
    pub customer_tags: Vec<String>,
    pub shipping_rules: Vec<(i64, ShippingRuleCreate)>,
    /// Decimal places allowed per unit code.
    pub unit_decimals: HashMap<String, i32>,
    /// (item, unit) → base units per unit.
    pub conversions: HashMap<(i64, String), Quantity>,
    /// Bundle structures and option groups of the items that have them.
    pub components: HashMap<i64, Vec<ComponentFacts>>,
    pub option_groups: HashMap<i64, Vec<OptionGroupFacts>>,
}

impl Facts {
    /// Units of `to` per unit of `from`: a direct rate, else the inverse of the reverse one.
    pub fn rate(&self, from: Currency, to: Currency) -> Result<Decimal> {
        crate::fx::rate(&self.fx, self.date, from, to)
    }
}

/// Best tier: valid on the date, min_quantity ≤ quantity, highest min_quantity; ties by
/// the owners' precedence (`owners` order), then the lowest id.
fn best<'a>(
    prices: &'a [PriceFacts],
    owners: &[i64],
    item: i64,
    unit: &str,
    qty: Quantity,
    date: Date,
    currency: Option<Currency>,
) -> Option<&'a PriceFacts> {
    prices
        .iter()
        .filter(|p| {
            p.item_id == item && p.unit == unit && p.min_quantity <= qty && valid_on(p.valid_from, p.valid_to, date)
        })
        .filter(|p| currency.is_none() || p.currency == currency)
        .filter_map(|p| owners.iter().position(|o| *o == p.owner_id).map(|rank| (rank, p)))
        .min_by(|(ra, a), (rb, b)| ra.cmp(rb).then(b.min_quantity.cmp(&a.min_quantity)).then(a.id.cmp(&b.id)))
        .map(|(_, p)| p)
}

/// A line's price before rules and discounts.
struct Base {
    item: ItemFacts,
    unit: String,
    qty: Quantity,
    base_qty: Quantity,
    unit_price: Decimal,
    source: PriceSource,
    components: Vec<ComponentPrice>,
    options: Vec<ChosenOption>,
    gross_list: bool,
    /// Special prices are final: no rules, no discounts.
    adjustable: bool,
    steps: Vec<String>,
}

fn rule_matches(
    facts: &Facts,
    req: &QuoteRequest,
    (id, r): &(i64, PricingRuleCreate),
    item: &ItemFacts,
    qty: Quantity,
    unit_price: Decimal,
    order_amount: Decimal,
) -> bool {
    let eq_ci = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    };
    // A rule in a currency only sees documents in it; a rule without one states its
    // amount conditions in the base currency, so the document's amounts convert.
    let to_rule = match r.currency {
        Some(_) => Some(Decimal::ONE),
        None => facts.rate(facts.currency, facts.base_currency).ok().map(|x| round_to(x, Rate::SCALE)),
    };
    let amounts_known = to_rule.is_some()
        || (r.min_line_amount.is_none()
            && r.max_line_amount.is_none()
            && r.min_order_amount.is_none()
            && r.max_order_amount.is_none());
    let to_rule = to_rule.unwrap_or(Decimal::ONE);
    let line_amount = unit_price * qty.value() * to_rule;
    let order_amount = order_amount * to_rule;
    let within = |v: Decimal, min: Option<Decimal>, max: Option<Decimal>| {
        min.is_none_or(|m| m <= v) && max.is_none_or(|m| v <= m)
    };
    r.active
        && amounts_known
        && valid_on(r.valid_from, r.valid_to, facts.date)
        && (!r.coupon_only || facts.coupon.as_ref().is_some_and(|c| c.pricing_rule_id == *id))
        && r.item_id.is_none_or(|i| i == item.id)
        && r.item_group_id.is_none_or(|g| item.item_group_id == Some(g))
        && r.customer_id.is_none_or(|c| facts.customers.iter().any(|x| x.id == c))
        && r.customer_tag.as_ref().is_none_or(|t| facts.customer_tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
        && (r.campaign_code.is_none() || eq_ci(&r.campaign_code, &req.campaign_code))
        && (r.territory.is_none() || eq_ci(&r.territory, &req.territory))
        && r.currency.is_none_or(|c| c == facts.currency)
        && within(qty.value(), r.min_quantity.map(|q| q.value()), r.max_quantity.map(|q| q.value()))
        && within(line_amount, r.min_line_amount.map(|m| m.value()), r.max_line_amount.map(|m| m.value()))
        && within(order_amount, r.min_order_amount.map(|m| m.value()), r.max_order_amount.map(|m| m.value()))
}

fn adjustment(kind: &str, source_id: Option<i64>, percent: Rate, off: Decimal, reason: String) -> Result<Adjustment> {
    Ok(Adjustment { kind: kind.into(), source_id, percent, amount: money(off)?, reason })
}

/// Where the list chain found a price: on a list (`depth` 0 is the effective list), or
/// a supplier's purchase price under a cost-plus list; `markup` is the product of the
/// markups passed on the way.
struct ChainHit<'a> {
    depth: usize,
    list: &'a ListFacts,
    price: &'a PriceFacts,
    markup: Decimal,
    supplier: Option<i64>,
    currency: Currency,
}

/// Walks the list chain for a price of `item` per `unit` at `qty`: each list's own
/// price, else (derived list) its base list's times its markup, else (cost-plus list)
/// its supplier's purchase price times its markup. A list without a markup passes its
/// base's price on as it is.
fn chain_price<'a>(facts: &'a Facts, item: i64, unit: &str, qty: Quantity) -> Option<ChainHit<'a>> {
    let mut markup = Decimal::ONE;
    for (depth, lf) in facts.lists.iter().enumerate() {
        if let Some(price) = best(&facts.list_prices, &[lf.id], item, unit, qty, facts.date, None) {
            return Some(ChainHit { depth, list: lf, price, markup, supplier: None, currency: lf.currency });
        }
        if let Some(m) = lf.markup_percent {
            markup *= Decimal::ONE + m.value() / Decimal::from(100);
        }
        if let Some(sid) = lf.base_supplier_id {
            let price = best(&facts.supplier_prices, &[sid], item, unit, qty, facts.date, None)?;
            let currency = price.currency.unwrap_or(lf.currency);
            return Some(ChainHit { depth: depth + 1, list: lf, price, markup, supplier: Some(sid), currency });
        }
    }
    None
}

/// A list price per `unit` of `item` for `qty` (tiers), through the list chain, in the
/// document currency; None when no list has one.
fn list_unit_price(facts: &Facts, item: i64, unit: &str, qty: Quantity) -> Result<Option<Decimal>> {
    match chain_price(facts, item, unit, qty) {
        Some(h) => {
            let fx = facts.rate(h.currency, facts.currency)?;
            Ok(Some(round_to(h.price.price.value() * h.markup * fx, Money::SCALE)))
        }
        None => Ok(None),
    }
}

/// A component in a configured line: item, quantity per unit, price override, required,
/// and the option (`group=code`) that brought it, if any.
type Picked = (i64, Quantity, Option<Money>, bool, Option<String>);

/// What a line's configuration adds: components (required, chosen optional, brought by
/// options) priced per base unit of the bundle, and option price deltas.
struct Configuration {
    components: Vec<ComponentPrice>,
    options: Vec<ChosenOption>,
}

fn configure(
    facts: &Facts,
    item: &ItemFacts,
    line: &QuoteLineRequest,
    field: &str,
    base_qty: Quantity,
    errors: &mut Vec<FieldError>,
) -> Result<Option<Configuration>> {
    let empty_c = vec![];
    let empty_g = vec![];
    let structure = facts.components.get(&item.id).unwrap_or(&empty_c);
    let groups = facts.option_groups.get(&item.id).unwrap_or(&empty_g);
    let before = errors.len();
    let mut picked: Vec<Picked> = structure
        .iter()
        .filter(|c| c.required)
        .map(|c| (c.component_item_id, c.quantity, c.price_override, true, None))
        .collect();
    for chosen in &line.components {
        match structure.iter().find(|c| c.component_item_id == *chosen && !c.required) {
            Some(c) => picked.push((c.component_item_id, c.quantity, c.price_override, false, None)),
            None => errors.push(FieldError::new(
                format!("{field}.components"),
                "unknown_component",
                format!("item {chosen} is not an optional component of {}", item.sku),
            )),
        }
    }
    let mut options = vec![];
    for (group, code) in &line.options {
        let Some(g) = groups.iter().find(|g| &g.name == group) else {
            errors.push(FieldError::new(
                format!("{field}.options.{group}"),
                "unknown_option",
                format!("{} has no option {group:?}", item.sku),
            ));
            continue;
        };
        let Some(choice) = g.choices.iter().find(|c| &c.code == code) else {
            errors.push(FieldError::new(
                format!("{field}.options.{group}"),
                "unknown_choice",
                format!("{group:?} has no choice {code:?}"),
            ));
            continue;
        };
        options.push(ChosenOption {
            group: group.clone(),
            code: code.clone(),
            price_delta: choice.price_delta.unwrap_or_default(),
        });
        if let (Some(comp), Some(q)) = (choice.component_item_id, choice.component_quantity) {
            picked.push((comp, q, None, false, Some(format!("{group}={code}"))));
        }
    }
    for g in groups.iter().filter(|g| g.required && !line.options.contains_key(&g.name)) {
        errors.push(FieldError::new(
            format!("{field}.options.{}", g.name),
            "option_required",
            format!("choose a {}", g.name),
        ));
    }
    if errors.len() > before {
        return Ok(None);
    }
    let mut components = vec![];
    for (comp, q, over, required, option) in picked {
        let unit_price = match over {
            Some(o) => Some(o.value()),
            None => {
                let base_unit = facts.items.get(&comp).map(|i| i.base_unit.clone()).unwrap_or_default();
                let need = Quantity::new(base_qty.value() * q.value()).unwrap_or(q);
                list_unit_price(facts, comp, &base_unit, need)?
            }
        };
        let Some(unit_price) = unit_price else {
            errors.push(FieldError::new(
                field,
                "price_missing",
                format!("no price for component item {comp} on {}", facts.date),
            ));
            return Ok(None);
        };
        components.push(ComponentPrice {
            item_id: comp,
            quantity: q,
            unit_price: money(unit_price)?,
            required,
            option,
        });
    }
    Ok(Some(Configuration { components, options }))
}

pub fn price(facts: &Facts, req: &QuoteRequest) -> Result<Quote> {
    let customer = facts.customers.first().ok_or_else(|| DomainError::Internal("no customer facts".into()))?;
    let dp = u32::from(facts.currency.minor_units());
    let hundred = Decimal::from(100);
    let mut explanation = vec![];
    let chain: Vec<i64> = facts.customers.iter().map(|c| c.id).collect();
    let list = facts.lists.first();
    match list {
        Some(l) => explanation.push(format!(
            "Price list: '{}' (#{}) in {}, {}.",
            l.name,
            l.id,
            l.currency,
            if l.prices_include_tax { "prices include tax" } else { "net prices" }
        )),
        None => explanation.push("No price list applies (the customer, its parents and the default have none).".into()),
    }
    if let Some(c) = &facts.coupon {
        explanation.push(format!("Coupon {} unlocks pricing rule #{}.", c.code, c.pricing_rule_id));
    }
    let general = facts.customers.iter().find_map(|c| c.discount_percent.map(|d| (c, d)));

    // Pass 1: base prices (special price, or list price own/derived, converted).
    let mut bases: Vec<Base> = vec![];
    let mut errors = vec![];
    for (i, l) in req.lines.iter().enumerate() {
        let field = format!("lines[{i}]");
        let Some(item) = facts.items.get(&l.item_id) else {
            errors.push(FieldError::new(
                format!("{field}.item_id"),
                "not_found",
                format!("item {} not found", l.item_id),
            ));
            continue;
        };
        if !item.active {
            errors.push(FieldError::new(
                format!("{field}.item_id"),
                "inactive",
                format!("item {} is not active", item.sku),
            ));
            continue;
        }
        let unit = l.unit.clone().unwrap_or_else(|| item.base_unit.clone());
        let qty = l.quantity;
        let mut steps = vec![];
        // Units: the base unit or one the item converts; the quantity respects the unit's
        // decimals and converts exactly to base units.
        let factor = if unit == item.base_unit {
            Some(Decimal::ONE)
        } else {
            facts.conversions.get(&(item.id, unit.clone())).map(|f| f.value())
        };
        let Some(factor) = factor else {
            errors.push(FieldError::new(
                format!("{field}.unit"),
                "unit_not_allowed",
                format!("item {} is not sold in {unit}", item.sku),
            ));
            continue;
        };
        if facts.unit_decimals.get(&unit).is_some_and(|d| qty.value().normalize().scale() > *d as u32) {
            errors.push(FieldError::new(
                format!("{field}.quantity"),
                "too_precise_for_unit",
                format!("{unit} allows {} decimal place(s)", facts.unit_decimals[&unit]),
            ));
            continue;
        }
        let Ok(base_qty) = Quantity::new(qty.value() * factor) else {
            errors.push(FieldError::new(
                format!("{field}.quantity"),
                "not_convertible",
                "does not convert exactly to the base unit",
            ));
            continue;
        };
        if factor != Decimal::ONE {
            steps.push(format!("{qty} {unit} = {base_qty} {}", item.base_unit));
        }
        // Configuration: validate options and chosen components, price the components.
        let Some(config) = configure(facts, item, l, &field, base_qty, &mut errors)? else {
            continue;
        };
        let by_components = item.bundle_pricing == BundlePricing::Components
            && facts.components.get(&item.id).is_some_and(|c| !c.is_empty());
        // Per line unit: components are per base unit of the bundle.
        let extras: Decimal = config
            .components
            .iter()
            .filter(|c| by_components || !c.required)
            .map(|c| c.unit_price.value() * c.quantity.value())
            .sum::<Decimal>()
            * factor;
        let deltas: Decimal = config.options.iter().map(|o| o.price_delta.value()).sum::<Decimal>() * factor;
        if !config.components.is_empty() {
            let what = if by_components { "sum of components" } else { "added components" };
            steps.push(format!("{what} {}", money(round_to(extras, Money::SCALE))?));
        }
        for o in &config.options {
            steps.push(format!("option {}={} +{}", o.group, o.code, o.price_delta));
        }
        if by_components {
            bases.push(Base {
                item: item.clone(),
                unit,
                qty,
                base_qty,
                unit_price: round_to(extras + deltas, Money::SCALE),
                source: PriceSource::Components,
                components: config.components,
                options: config.options,
                gross_list: list.is_some_and(|l| l.prices_include_tax),
                adjustable: true,
                steps,
            });
            continue;
        }
        // A price in the line's unit first, else the base unit's price times the factor.
        let tries: Vec<(&str, Quantity, Decimal)> = if factor == Decimal::ONE {
            vec![(unit.as_str(), qty, Decimal::ONE)]
        } else {
            vec![(unit.as_str(), qty, Decimal::ONE), (item.base_unit.as_str(), base_qty, factor)]
        };
        let special = tries.iter().find_map(|(u, q, f)| {
            best(&facts.customer_prices, &chain, item.id, u, *q, facts.date, Some(facts.currency)).map(|p| (p, *f))
        });
        if let Some((p, f)) = special {
            steps.push(format!(
                "special price {} {} for customer #{} (tier from {})",
                p.price, facts.currency, p.owner_id, p.min_quantity
            ));
            bases.push(Base {
                item: item.clone(),
                unit,
                qty,
                base_qty,
                unit_price: round_to(p.price.value() * f + extras + deltas, Money::SCALE),
                source: PriceSource::CustomerPrice {
                    customer_price_id: p.id,
                    customer_id: p.owner_id,
                    min_quantity: p.min_quantity,
                },
                components: config.components,
                options: config.options,
                gross_list: list.is_some_and(|l| l.prices_include_tax),
                adjustable: false,
                steps,
            });
            continue;
        }
        let found = tries.iter().find_map(|(u, q, f)| chain_price(facts, item.id, u, *q).map(|h| (h, *f)));
        let Some((hit, per_unit)) = found else {
            errors.push(FieldError::new(
                field.clone(),
                "price_missing",
                format!("no price for item {} in unit {unit} on {}", item.sku, facts.date),
            ));
            continue;
        };
        let ChainHit { depth, list: lf, price: p, markup, supplier, currency: price_currency } = hit;
        let fx = facts.rate(price_currency, facts.currency)?;
        let unit_price = round_to(p.price.value() * markup * fx * per_unit + extras + deltas, Money::SCALE);
        let top = list.expect("found implies a list");
        let pct = round_to((markup - Decimal::ONE) * hundred, Rate::SCALE);
        let source = if let Some(supplier_id) = supplier {
            steps.push(format!(
                "purchase price {} {} of supplier #{supplier_id} (supplier price #{}, tier from {}) plus {}% markup of '{}'",
                p.price,
                price_currency,
                p.id,
                p.min_quantity,
                pct.normalize(),
                top.name
            ));
            PriceSource::SupplierPrice {
                price_list_id: top.id,
                supplier_id,
                supplier_price_id: p.id,
                markup_percent: Rate::new(pct).unwrap_or_default(),
                min_quantity: p.min_quantity,
            }
        } else if depth == 0 {
            steps.push(format!(
                "list price {} {} from '{}' (tier from {})",
                p.price, lf.currency, lf.name, p.min_quantity
            ));
            PriceSource::PriceList { price_list_id: lf.id, item_price_id: p.id, min_quantity: p.min_quantity }
        } else {
            steps.push(format!(
                "{} {} from base list '{}' plus {}% markup of '{}'",
                p.price,
                lf.currency,
                lf.name,
                pct.normalize(),
                top.name
            ));
            PriceSource::DerivedPriceList {
                price_list_id: top.id,
                base_price_list_id: lf.id,
                item_price_id: p.id,
                markup_percent: Rate::new(pct).unwrap_or_default(),
                min_quantity: p.min_quantity,
            }
        };
        if price_currency != facts.currency {
            steps.push(format!("converted {} → {} at {}", price_currency, facts.currency, fx.normalize()));
        }
        bases.push(Base {
            item: item.clone(),
            unit,
            qty,
            base_qty,
            unit_price,
            source,
            components: config.components,
            options: config.options,
            gross_list: lf.prices_include_tax,
            adjustable: true,
            steps,
        });
    }
    if !errors.is_empty() {
        return Err(DomainError::Rule {
            code: "unpriceable_lines",
            detail: format!("{} line(s) cannot be priced; see `errors`", errors.len()),
            errors,
        });
    }
    let order_amount: Decimal = bases.iter().map(|b| b.unit_price * b.qty.value()).sum();
    let mut rules: Vec<&(i64, PricingRuleCreate)> = facts.rules.iter().collect();
    rules.sort_by_key(|(id, r)| (r.priority, *id));

    // Pass 2: rules, discounts, tax, per line.
    let mut lines = vec![];
    let mut line_no = 0;
    for b in bases {
        let Base {
            item,
            unit,
            qty,
            base_qty,
            unit_price,
            source,
            components,
            options,
            gross_list,
            adjustable,
            mut steps,
        } = b;
        line_no += 1;
        let mut adjustments = vec![];
        let mut free_lines = vec![];
        let mut stopped = !adjustable;
        if adjustable {
            for rule in &rules {
                let (id, r) = rule;
                if stopped || !rule_matches(facts, req, rule, &item, qty, unit_price, order_amount) {
                    continue;
                }
                let current = unit_price * qty.value()
                    - adjustments.iter().map(|a: &Adjustment| a.amount.value()).sum::<Decimal>();
                match r.action {
                    RuleAction::FixedPrice => {
                        let new_price = r.amount.map(|a| a.value()).unwrap_or_default();
                        let off = unit_price * qty.value() - new_price * qty.value();
                        steps.push(format!("rule '{}' (#{id}) fixes the price at {new_price}", r.name));
                        adjustments.push(adjustment(
                            "rule_fixed_price",
                            Some(*id),
                            Rate::ZERO,
                            off,
                            format!("pricing rule '{}'", r.name),
                        )?);
                    }
                    RuleAction::DiscountPercent => {
                        let pct = r.percent.unwrap_or_default();
                        let off = round_to(current * pct.value() / hundred, Money::SCALE);
                        steps.push(format!("rule '{}' (#{id}) {pct}%: -{}", r.name, money(off)?));
                        adjustments.push(adjustment(
                            "rule_discount",
                            Some(*id),
                            pct,
                            off,
                            format!("pricing rule '{}'", r.name),
                        )?);
                    }
                    RuleAction::DiscountAmount => {
                        let off = (r.amount.map(|a| a.value()).unwrap_or_default() * qty.value()).min(current);
                        steps.push(format!(
                            "rule '{}' (#{id}) {} off per unit: -{}",
                            r.name,
                            r.amount.unwrap_or_default(),
                            money(off)?
                        ));
                        adjustments.push(adjustment(
                            "rule_discount",
                            Some(*id),
                            Rate::ZERO,
                            off,
                            format!("pricing rule '{}'", r.name),
                        )?);
                    }
                    RuleAction::FreeItem => {
                        let (Some(free_id), Some(buy), Some(free)) = (r.free_item_id, r.buy_quantity, r.free_quantity)
                        else {
                            continue;
                        };
                        let times = (qty.value() / buy.value()).floor();
                        if times.is_zero() {
                            continue;
                        }
                        let free_qty = Quantity::new(times * free.value())
                            .map_err(|e| DomainError::rule("quantity_out_of_range", e.to_string()))?;
                        let free_item = facts.items.get(&free_id);
                        steps.push(format!(
                            "rule '{}' (#{id}) adds {free_qty} free {}",
                            r.name,
                            free_item.map(|i| i.sku.as_str()).unwrap_or("item")
                        ));
                        free_lines.push((
                            free_id,
                            free_qty,
                            free_item.map(|i| i.base_unit.clone()).unwrap_or_else(|| unit.clone()),
                            *id,
                        ));
                    }
                }
                if r.exclusive {
                    steps.push(format!("rule '{}' is exclusive: no further rules or discounts", r.name));
                    stopped = true;
                }
            }
        }
        let mut amount = in_range(unit_price.checked_mul(qty.value()))?
            - adjustments.iter().map(|a| a.amount.value()).sum::<Decimal>();
        if !stopped {
            if let Some(group) = item.item_group_id {
                let applicable = facts
                    .discounts
                    .iter()
                    .filter(|d| d.item_group_id == group && valid_on(d.valid_from, d.valid_to, facts.date))
                    .filter_map(|d| match d.customer_id {
                        Some(c) => chain.iter().position(|x| *x == c).map(|r| (r, d)),
                        None => Some((chain.len(), d)),
                    })
                    .min_by(|(ra, a), (rb, b)| ra.cmp(rb).then(a.id.cmp(&b.id)));
                if let Some((_, d)) = applicable {
                    let off = round_to(amount * d.percent.value() / hundred, Money::SCALE);
                    amount -= off;
                    let whom = if d.customer_id.is_some() { "this customer" } else { "all customers" };
                    steps.push(format!("group discount {}% for {whom}: -{}", d.percent, money(off)?));
                    adjustments.push(adjustment(
                        "group_discount",
                        Some(d.id),
                        d.percent,
                        off,
                        format!("item group #{group} discount for {whom}"),
                    )?);
                }
            }
            if let Some((c, pct)) = general {
                let off = round_to(amount * pct.value() / hundred, Money::SCALE);
                amount -= off;
                steps.push(format!("customer discount {pct}%: -{}", money(off)?));
                let reason = if c.id == customer.id {
                    "the customer's general discount".to_string()
                } else {
                    format!("general discount of parent customer #{}", c.id)
                };
                adjustments.push(adjustment("customer_discount", None, pct, off, reason)?);
            }
        } else if !adjustable {
            steps.push("special prices are final: no rules or discounts".into());
        }
        // Tax.
        let item_tax = item.tax_rate_id.and_then(|t| facts.taxes.get(&t));
        let item_pct = item_tax.map(|t| t.percent.value()).unwrap_or_default();
        let charged = customer.tax_treatment == TaxTreatment::Standard;
        let pct = if charged { item_pct } else { Decimal::ZERO };
        let (net, tax) = if gross_list {
            let net = round_to(amount / (Decimal::ONE + item_pct / hundred), dp);
            let tax = if charged { round_to(amount, dp) - net } else { Decimal::ZERO };
            (net, tax)
        } else {
            let net = round_to(amount, dp);
            (net, round_to(net * pct / hundred, dp))
        };
        match (item_tax, charged) {
            (Some(t), true) => steps.push(format!("tax {} {}%: {}", t.code, t.percent, money(tax)?)),
            (Some(t), false) => steps.push(format!(
                "no tax: customer is {} (item rate {} {}%)",
                customer.tax_treatment.as_str().replace('_', " "),
                t.code,
                t.percent
            )),
            (None, _) => steps.push("no tax rate on the item".into()),
        }
        let discount: Decimal = adjustments.iter().map(|a| a.amount.value()).sum();
        let gross = net + tax;
        explanation.push(format!(
            "Line {line_no} ({} × {} {unit}): {}; net {}, gross {} {}.",
            item.sku,
            qty,
            steps.join("; "),
            money(net)?,
            money(gross)?,
            facts.currency
        ));
        lines.push(QuotedLine {
            line: line_no,
            item_id: item.id,
            quantity: qty,
            unit,
            base_quantity: base_qty,
            base_unit_price: money(unit_price)?,
            source,
            components,
            options,
            adjustments,
            tax_rate_id: if charged { item.tax_rate_id } else { None },
            tax_percent: Rate::new(pct).unwrap_or_default(),
            net: money(net)?,
            tax: money(tax)?,
            gross: money(gross)?,
            discount: money(round_to(discount, dp))?,
        });
        for (free_id, free_qty, free_unit, rule_id) in free_lines {
            line_no += 1;
            let sku = facts.items.get(&free_id).map(|i| i.sku.clone()).unwrap_or_else(|| format!("item #{free_id}"));
            explanation
                .push(format!("Line {line_no} ({sku} × {free_qty} {free_unit}): free, from pricing rule #{rule_id}."));
            lines.push(QuotedLine {
                line: line_no,
                item_id: free_id,
                quantity: free_qty,
                unit: free_unit,
                base_quantity: free_qty,
                base_unit_price: Money::ZERO,
                source: PriceSource::FreeItem { pricing_rule_id: rule_id },
                components: vec![],
                options: vec![],
                adjustments: vec![],
                tax_rate_id: None,
                tax_percent: Rate::ZERO,
                net: Money::ZERO,
                tax: Money::ZERO,
                gross: Money::ZERO,
                discount: Money::ZERO,
            });
        }
    }
    let sum = |f: fn(&QuotedLine) -> Money| -> Decimal { lines.iter().map(|l| f(l).value()).sum() };
    let (lines_net, lines_tax, discount) = (sum(|l| l.net), sum(|l| l.tax), sum(|l| l.discount));
    let mut taxes: Vec<TaxTotal> = vec![];
    let mut add_tax = |rate_id: Option<i64>, percent: Rate, net: Money, tax: Money| -> Result<()> {
        match taxes.iter_mut().find(|t| t.tax_rate_id == rate_id && t.percent == percent) {
            Some(t) => {
                t.net = money(t.net.value() + net.value())?;
                t.tax = money(t.tax.value() + tax.value())?;
            }
            None => taxes.push(TaxTotal {
                tax_rate_id: rate_id,
                percent,
                net,
                tax,
                base_net: Money::ZERO,
                base_tax: Money::ZERO,
            }),
        }
        Ok(())
    };
    for l in lines.iter().filter(|l| !matches!(l.source, PriceSource::FreeItem { .. })) {
        add_tax(l.tax_rate_id, l.tax_percent, l.net, l.tax)?;
    }
    // Shipping.
    let shipping = match &req.shipping_country {
        None => None,
        Some(country) => {
            let weight: Decimal = lines
                .iter()
                .filter_map(|l| {
                    // Weight is per base unit: 10 BOX of 12 PCS weigh 120 PCS.
                    facts.items.get(&l.item_id).and_then(|i| i.weight).map(|w| w.value() * l.base_quantity.value())
                })
                .sum();
            let count: Decimal = lines.iter().map(|l| l.quantity.value()).sum();
            let mut candidates: Vec<&(i64, ShippingRuleCreate)> = facts.shipping_rules.iter().collect();
            candidates.sort_by_key(|(id, r)| (r.priority, *id));
            let chosen = candidates.into_iter().find(|(_, r)| {
                let basis = match r.basis {
                    ShippingBasis::NetAmount => lines_net,
                    ShippingBasis::Weight => weight,
                    ShippingBasis::ItemCount => count,
                };
                r.active
                    && r.currency == facts.currency
                    && (r.countries.is_empty() || r.countries.iter().any(|c| c == country))
                    && r.range_min.is_none_or(|m| m.value() <= basis)
                    && r.range_max.is_none_or(|m| basis < m.value())
            });
            match chosen {
                None => {
                    explanation.push(format!("Shipping: no shipping rule matches {country} in {}.", facts.currency));
                    None
                }
                Some((id, r)) => {
                    let free = r.free_above.is_some_and(|f| lines_net >= f.value());
                    let net = if free {
                        Decimal::ZERO
                    } else {
                        match r.charge {
                            ShippingChargeKind::Fixed => r.amount.map(|a| a.value()).unwrap_or_default(),
                            ShippingChargeKind::Percent => {
                                lines_net * r.percent.map(|p| p.value()).unwrap_or_default() / hundred
                            }
                        }
                    };
                    let net = round_to(net, dp);
                    let rate = if customer.tax_treatment == TaxTreatment::Standard {
                        r.tax_rate_id.and_then(|t| facts.taxes.get(&t))
                    } else {
                        None
                    };
                    let pct = rate.map(|t| t.percent).unwrap_or(Rate::ZERO);
                    let tax = round_to(net * pct.value() / hundred, dp);
                    explanation.push(if free {
                        format!("Shipping: '{}' (#{id}) is free from {} net.", r.name, r.free_above.unwrap_or_default())
                    } else {
                        format!(
                            "Shipping: '{}' (#{id}) to {country}: {} net, tax {}.",
                            r.name,
                            money(net)?,
                            money(tax)?
                        )
                    });
                    let line = ShippingLine {
                        shipping_rule_id: *id,
                        net: money(net)?,
                        tax_rate_id: rate.map(|t| t.id),
                        tax: money(tax)?,
                        gross: money(net + tax)?,
                    };
                    if !net.is_zero() {
                        add_tax(line.tax_rate_id, pct, line.net, line.tax)?;
                    }
                    Some(line)
                }
            }
        }
    };
    let ship_net = shipping.as_ref().map(|s| s.net.value()).unwrap_or_default();
    let ship_tax = shipping.as_ref().map(|s| s.tax.value()).unwrap_or_default();
    let (net, tax) = (lines_net + ship_net, lines_tax + ship_tax);
    let gross = net + tax;
    // The rate as stored and shown (8 decimals): what anyone re-checking the figures,
    // and billing posting them, multiplies by.
    let to_base = round_to(facts.rate(facts.currency, facts.base_currency)?, Rate::SCALE);
    let bdp = u32::from(facts.base_currency.minor_units());
    // Round two per rate (net, tax), derive the rest by adding: base gross is always
    // base net + base tax, and the per-rate figures add up to the totals.
    let (mut base_net, mut base_tax) = (Decimal::ZERO, Decimal::ZERO);
    for t in taxes.iter_mut() {
        t.base_net = money(round_to(t.net.value() * to_base, bdp))?;
        t.base_tax = money(round_to(t.tax.value() * to_base, bdp))?;
        base_net += t.base_net.value();
        base_tax += t.base_tax.value();
    }
    let base = BaseCurrencyTotals {
        currency: facts.base_currency,
        rate: Rate::new(to_base).unwrap_or_default(),
        net: money(base_net)?,
        tax: money(base_tax)?,
        gross: money(base_net + base_tax)?,
    };
    if facts.currency != facts.base_currency {
        explanation.push(format!(
            "Base currency: {} {} at {} {}/{}.",
            base.gross,
            facts.base_currency,
            to_base.normalize(),
            facts.base_currency,
            facts.currency
        ));
    }
    explanation.push(format!(
        "Totals: net {}, discounts {}, shipping {}, tax {}, gross {} {} (rounded half away from zero to {} decimals per line).",
        money(net)?,
        money(discount)?,
        money(ship_net)?,
        money(tax)?,
        money(gross)?,
        facts.currency,
        dp
    ));
    Ok(Quote {
        customer_id: customer.id,
        currency: facts.currency,
        date: facts.date,
        price_list_id: list.map(|l| l.id),
        lines,
        shipping,
        coupon: facts.coupon.clone(),
        totals: QuoteTotals {
            net: money(net)?,
            shipping: money(ship_net)?,
            discount: money(discount)?,
            tax: money(tax)?,
            gross: money(gross)?,
            taxes,
        },
        base_currency: base,
        explanation,
        item_costs: HashMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }
    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }
    fn r(s: &str) -> Rate {
        Rate::parse(s).unwrap()
    }
    fn cur(c: &str) -> Currency {
        Currency::from_code(c).unwrap()
    }
    fn date() -> Date {
        time::macros::date!(2026 - 06 - 15)
    }

    fn price_row(id: i64, owner: i64, item: i64, price: &str, min: &str) -> PriceFacts {
        PriceFacts {
            id,
            owner_id: owner,
            item_id: item,
            unit: "PCS".into(),
            currency: None,
            price: m(price),
            min_quantity: q(min),
            valid_from: None,
            valid_to: None,
        }
    }

    fn facts() -> Facts {
        let mut items = HashMap::new();
        items.insert(
            1,
            ItemFacts {
                id: 1,
                sku: "A".into(),
                base_unit: "PCS".into(),
                item_group_id: Some(10),
                tax_rate_id: Some(100),
                active: true,
                weight: None,
                bundle_pricing: BundlePricing::Own,
            },
        );
        let mut taxes = HashMap::new();
        taxes.insert(100, TaxFacts { id: 100, code: "VAT23".into(), percent: r("23") });
        Facts {
            customers: vec![CustomerFacts {
                id: 5,
                name: "C".into(),
                currency: cur("EUR"),
                tax_treatment: TaxTreatment::Standard,
                discount_percent: None,
            }],
            currency: cur("EUR"),
            base_currency: cur("EUR"),
            date: date(),
            items,
            lists: vec![ListFacts {
                id: 1,
                name: "Retail".into(),
                currency: cur("EUR"),
                prices_include_tax: false,
                markup_percent: None,
                base_supplier_id: None,
            }],
            list_prices: vec![
                price_row(1, 1, 1, "10.00", "0"),
                price_row(2, 1, 1, "9.00", "10"),
                price_row(3, 1, 1, "8.00", "100"),
            ],
            customer_prices: vec![],
            supplier_prices: vec![],
            discounts: vec![],
            taxes,
            fx: HashMap::new(),
            rules: vec![],
            coupon: None,
            customer_tags: vec![],
            shipping_rules: vec![],
            unit_decimals: HashMap::new(),
            conversions: HashMap::new(),
            components: HashMap::new(),
            option_groups: HashMap::new(),
        }
    }

    fn req(qty: &str) -> QuoteRequest {
        QuoteRequest {
            customer_id: 5,
            currency: None,
            date: None,
            price_list_id: None,
            lines: vec![QuoteLineRequest {
                item_id: 1,
                quantity: q(qty),
                unit: None,
                options: Default::default(),
                components: vec![],
            }],
            coupon_code: None,
            campaign_id: None,
            campaign_code: None,
            territory_id: None,
            territory: None,
            shipping_country: None,
        }
    }

    #[test]
    fn tiers_pick_the_highest_reached() {
        let f = facts();
        assert_eq!(price(&f, &req("1")).unwrap().lines[0].base_unit_price, m("10"));
        assert_eq!(price(&f, &req("10")).unwrap().lines[0].base_unit_price, m("9"));
        assert_eq!(price(&f, &req("99.5")).unwrap().lines[0].base_unit_price, m("9"));
        let big = price(&f, &req("100")).unwrap();
        assert_eq!(big.lines[0].base_unit_price, m("8"));
        assert_eq!(big.totals.net, m("800.00"));
        assert_eq!(big.totals.tax, m("184.00"));
        assert_eq!(big.totals.gross, m("984.00"));
    }

    #[test]
    fn special_price_beats_list_and_is_not_discounted() {
        let mut f = facts();
        f.customers[0].discount_percent = Some(r("10"));
        f.customer_prices = vec![PriceFacts { currency: Some(cur("EUR")), ..price_row(50, 5, 1, "7.50", "0") }];
        let quote = price(&f, &req("2")).unwrap();
        assert_eq!(quote.lines[0].base_unit_price, m("7.50"));
        assert!(matches!(quote.lines[0].source, PriceSource::CustomerPrice { customer_price_id: 50, .. }));
        assert!(quote.lines[0].adjustments.is_empty());
        assert_eq!(quote.totals.net, m("15.00"));
    }

    #[test]
    fn parent_policy_uses_the_nearest_parents_special_price_and_discount() {
        let mut f = facts();
        f.customers.push(CustomerFacts {
            id: 6,
            name: "Parent".into(),
            currency: cur("EUR"),
            tax_treatment: TaxTreatment::Standard,
            discount_percent: Some(r("5")),
        });
        let quote = price(&f, &req("1")).unwrap();
        assert_eq!(quote.lines[0].adjustments[0].kind, "customer_discount");
        assert_eq!(quote.totals.net, m("9.50"));
        f.customer_prices = vec![PriceFacts { currency: Some(cur("EUR")), ..price_row(60, 6, 1, "6.00", "0") }];
        assert_eq!(price(&f, &req("1")).unwrap().totals.net, m("6.00"));
    }

    #[test]
    fn group_discount_then_general_discount_stack_sequentially() {
        let mut f = facts();
        f.customers[0].discount_percent = Some(r("10"));
        f.discounts = vec![
            DiscountFacts {
                id: 1,
                customer_id: None,
                item_group_id: 10,
                percent: r("20"),
                valid_from: None,
                valid_to: None,
            },
            DiscountFacts {
                id: 2,
                customer_id: Some(5),
                item_group_id: 10,
                percent: r("50"),
                valid_from: None,
                valid_to: None,
            },
        ];
        let quote = price(&f, &req("1")).unwrap();
        // Customer-specific 50% beats the 20% for everyone; then 10% of what is left.
        assert_eq!(quote.lines[0].adjustments[0].source_id, Some(2));
        assert_eq!(quote.lines[0].adjustments[0].amount, m("5"));
        assert_eq!(quote.lines[0].adjustments[1].amount, m("0.5"));
        assert_eq!(quote.totals.net, m("4.50"));
        assert_eq!(quote.totals.discount, m("5.50"));
    }

    #[test]
    fn derived_list_applies_markup_to_the_base_price() {
        let mut f = facts();
        f.lists = vec![
            ListFacts {
                id: 2,
                name: "Resale".into(),
                currency: cur("EUR"),
                prices_include_tax: false,
                markup_percent: Some(r("30")),
                base_supplier_id: None,
            },
            ListFacts {
                id: 1,
                name: "Supplier".into(),
                currency: cur("EUR"),
                prices_include_tax: false,
                markup_percent: None,
                base_supplier_id: None,
            },
        ];
        let quote = price(&f, &req("1")).unwrap();
        assert_eq!(quote.lines[0].base_unit_price, m("13"));
        assert!(matches!(quote.lines[0].source, PriceSource::DerivedPriceList { base_price_list_id: 1, .. }));
        // Without a markup the derived list passes its base's price on as it is.
        f.lists[0].markup_percent = None;
        let quote = price(&f, &req("1")).unwrap();
        assert_eq!(quote.lines[0].base_unit_price, m("10"));
    }

    #[test]
    fn cost_plus_list_marks_up_the_supplier_price_in_the_document_currency() {
        let mut f = facts();
        f.list_prices = vec![];
        f.lists[0].markup_percent = Some(r("25"));
        f.lists[0].base_supplier_id = Some(7);
        let mut usd = price_row(40, 7, 1, "8.00", "0");
        usd.currency = Some(cur("USD"));
        let mut bulk = price_row(41, 7, 1, "6.00", "100");
        bulk.currency = Some(cur("USD"));
        f.supplier_prices = vec![usd, bulk];
        f.fx.insert(("USD".into(), "EUR".into()), r("0.9"));
        let quote = price(&f, &req("1")).unwrap();
        // 8.00 USD × 1.25 × 0.9 = 9.00 EUR
        assert_eq!(quote.lines[0].base_unit_price, m("9"));
        assert!(matches!(
            quote.lines[0].source,
            PriceSource::SupplierPrice { supplier_id: 7, supplier_price_id: 40, .. }
        ));
        let text = quote.explanation.join("\n");
        assert!(text.contains("purchase price 8.00 USD of supplier #7 (supplier price #40"), "{text}");
        assert!(text.contains("converted USD → EUR at 0.9"), "{text}");
        assert_eq!(price(&f, &req("100")).unwrap().lines[0].base_unit_price, m("6.75"), "the supplier's tier");
        // Without a rate to convert it, the line cannot be priced.
        f.fx.clear();
        assert!(price(&f, &req("1")).is_err());
    }

    #[test]
    fn base_currency_totals_add_up() {
        let mut f = facts();
        f.currency = cur("JPY");
        f.list_prices = vec![price_row(1, 1, 1, "99999.99", "0")];
        // 1 JPY = 0.0061 EUR, written as the EUR → JPY rate.
        f.fx.insert(("EUR".into(), "JPY".into()), r("163.93442623"));
        let q = price(&f, &req("1")).unwrap();
        let b = &q.base_currency;
        assert_eq!(b.gross.value(), b.net.value() + b.tax.value(), "{b:?}");
        let per_rate: Decimal = q.totals.taxes.iter().map(|t| t.base_net.value() + t.base_tax.value()).sum();
        assert_eq!(per_rate, b.gross.value());
    }

    #[test]
    fn gross_list_with_tax_exempt_customer_strips_the_tax() {
        let mut f = facts();
        f.lists[0].prices_include_tax = true;
        f.list_prices = vec![price_row(1, 1, 1, "123.00", "0")];
        let standard = price(&f, &req("1")).unwrap();
        assert_eq!((standard.totals.net, standard.totals.tax, standard.totals.gross), (m("100"), m("23"), m("123")));
        f.customers[0].tax_treatment = TaxTreatment::Exempt;
        let exempt = price(&f, &req("1")).unwrap();
        assert_eq!((exempt.totals.net, exempt.totals.tax, exempt.totals.gross), (m("100"), m("0"), m("100")));
    }

    #[test]
    fn jpy_and_kwd_round_half_away_from_zero_per_line() {
        let mut f = facts();
        f.currency = cur("JPY");
        f.base_currency = cur("JPY");
        f.lists[0].currency = cur("JPY");
        f.list_prices = vec![price_row(1, 1, 1, "100.5", "0")];
        let jpy = price(&f, &req("1")).unwrap();
        assert_eq!(jpy.totals.net, m("101"));
        assert_eq!(jpy.totals.tax, m("23"), "23.23 rounds to 23");
        f.currency = cur("KWD");
        f.base_currency = cur("KWD");
        f.lists[0].currency = cur("KWD");
        f.list_prices = vec![price_row(1, 1, 1, "1.0005", "0")];
        let kwd = price(&f, &req("1")).unwrap();
        assert_eq!(kwd.totals.net, m("1.001"));
        assert_eq!(kwd.totals.tax, m("0.230"), "0.23023 rounds to 0.230");
        // Half away from zero, also for KWD's third decimal.
        f.list_prices = vec![price_row(1, 1, 1, "0.0005", "0")];
        assert_eq!(price(&f, &req("1")).unwrap().totals.net, m("0.001"));
    }

    #[test]
    fn fx_conversion_and_a_missing_rate() {
        let mut f = facts();
        f.currency = cur("PLN");
        let missing = price(&f, &req("1")).unwrap_err();
        assert!(matches!(missing, DomainError::Rule { code: "fx_rate_missing", .. }));
        f.fx.insert(("EUR".into(), "PLN".into()), r("4.25"));
        let quote = price(&f, &req("1")).unwrap();
        assert_eq!(quote.lines[0].base_unit_price, m("42.50"));
        assert_eq!(quote.totals.net, m("42.50"));
        // Base totals go back through the inverse rate.
        assert_eq!(quote.base_currency.currency, cur("EUR"));
        assert_eq!(quote.base_currency.net, m("10.00"));
    }

    #[test]
    fn unpriceable_lines_are_listed_together() {
        let mut f = facts();
        f.list_prices.clear();
        let mut rq = req("1");
        rq.lines.push(QuoteLineRequest {
            item_id: 99,
            quantity: q("1"),
            unit: None,
            options: Default::default(),
            components: vec![],
        });
        match price(&f, &rq).unwrap_err() {
            DomainError::Rule { code, errors, .. } => {
                assert_eq!(code, "unpriceable_lines");
                assert_eq!(errors.len(), 2);
                assert_eq!(errors[0].code, "price_missing");
                assert_eq!(errors[1].field, "lines[1].item_id");
            }
            other => panic!("{other:?}"),
        }
    }

    fn rule(action: RuleAction) -> PricingRuleCreate {
        PricingRuleCreate {
            name: "r".into(),
            priority: 100,
            exclusive: false,
            active: true,
            valid_from: None,
            valid_to: None,
            currency: None,
            item_id: Some(1),
            item_group_id: None,
            customer_id: None,
            customer_tag: None,
            campaign_code: None,
            territory: None,
            min_quantity: None,
            max_quantity: None,
            min_line_amount: None,
            max_line_amount: None,
            min_order_amount: None,
            max_order_amount: None,
            coupon_only: false,
            action,
            percent: None,
            amount: None,
            free_item_id: None,
            buy_quantity: None,
            free_quantity: None,
        }
    }

    #[test]
    fn rules_stack_in_priority_order_until_an_exclusive_one() {
        let mut f = facts();
        f.customers[0].discount_percent = Some(r("10"));
        let ten = PricingRuleCreate { percent: Some(r("10")), priority: 1, ..rule(RuleAction::DiscountPercent) };
        let fixed = PricingRuleCreate {
            amount: Some(m("8")),
            currency: Some(cur("EUR")),
            priority: 0,
            ..rule(RuleAction::FixedPrice)
        };
        f.rules = vec![(2, ten.clone()), (1, fixed.clone())];
        // Fixed 8.00, then 10% → 7.20, then the customer's 10% → 6.48.
        let stacked = price(&f, &req("1")).unwrap();
        let kinds: Vec<&str> = stacked.lines[0].adjustments.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, vec!["rule_fixed_price", "rule_discount", "customer_discount"]);
        assert_eq!(stacked.totals.net, m("6.48"));
        // An exclusive first rule stops the rest, standard discounts included.
        f.rules = vec![(2, ten), (1, PricingRuleCreate { exclusive: true, ..fixed })];
        let exclusive = price(&f, &req("1")).unwrap();
        assert_eq!(exclusive.lines[0].adjustments.len(), 1);
        assert_eq!(exclusive.totals.net, m("8.00"));
    }

    #[test]
    fn coupon_only_rules_need_their_coupon() {
        let mut f = facts();
        f.rules = vec![(
            7,
            PricingRuleCreate { percent: Some(r("50")), coupon_only: true, ..rule(RuleAction::DiscountPercent) },
        )];
        assert_eq!(price(&f, &req("1")).unwrap().totals.net, m("10.00"));
        f.coupon = Some(AppliedCoupon { code: "HALF".into(), pricing_rule_id: 7 });
        let q = price(&f, &req("1")).unwrap();
        assert_eq!(q.totals.net, m("5.00"));
        assert_eq!(q.coupon.unwrap().code, "HALF");
    }

    #[test]
    fn free_item_per_n_bought_and_conditions() {
        let mut f = facts();
        f.items.insert(
            2,
            ItemFacts {
                id: 2,
                sku: "GIFT".into(),
                base_unit: "PCS".into(),
                item_group_id: None,
                tax_rate_id: None,
                active: true,
                weight: None,
                bundle_pricing: BundlePricing::Own,
            },
        );
        f.rules = vec![(
            3,
            PricingRuleCreate {
                free_item_id: Some(2),
                buy_quantity: Some(q("3")),
                free_quantity: Some(q("1")),
                min_quantity: Some(q("3")),
                ..rule(RuleAction::FreeItem)
            },
        )];
        let q7 = price(&f, &req("7")).unwrap();
        assert_eq!(q7.lines.len(), 2);
        assert_eq!(q7.lines[1].item_id, 2);
        assert_eq!(q7.lines[1].quantity, q("2"));
        assert_eq!(q7.lines[1].net, Money::ZERO);
        assert!(matches!(q7.lines[1].source, PriceSource::FreeItem { pricing_rule_id: 3 }));
        assert_eq!(price(&f, &req("2")).unwrap().lines.len(), 1, "below min_quantity");
    }

    // ---- properties (issue 17) ----------------------------------------------------

    use proptest::prelude::*;

    /// An amount with `dp` decimals from its integer units.
    fn amount(units: i64, dp: u32) -> Money {
        Money::new(Decimal::new(units, dp)).unwrap()
    }

    /// Facts and a basket drawn at random from what the validators accept: list prices
    /// and quantity tiers per item, net or gross lists, a customer discount, group
    /// discounts, a tax rate per item (or none), 1–12 lines. Prices and quantities stay
    /// where no amount can pass storage's 14 digits, so every basket must be priced.
    fn market(max_price: i64, max_quantity: i64) -> impl Strategy<Value = (Facts, QuoteRequest)> {
        let item =
            (1i64..=max_price, 0u32..=4, prop::option::of(0i64..=3000), 0i64..=50, prop::option::of(0i64..=10_000));
        (
            prop::collection::vec(item, 1..=4),
            any::<bool>(),
            prop::option::of(0i64..=10_000),
            prop::collection::vec((1i64..=max_quantity, 0u32..=4, 0usize..4), 1..=12),
        )
            .prop_map(|(items, gross_list, customer_discount, lines)| {
                let mut f = facts();
                f.lists[0].prices_include_tax = gross_list;
                f.customers[0].discount_percent = customer_discount.map(|d| Rate::new(Decimal::new(d, 2)).unwrap());
                f.items.clear();
                f.taxes.clear();
                f.list_prices.clear();
                let n = items.len();
                for (k, (price, dp, tax, tier_min, group_discount)) in items.into_iter().enumerate() {
                    let id = k as i64 + 1;
                    let tax_id = tax.map(|t| {
                        f.taxes.insert(
                            100 + id,
                            TaxFacts {
                                id: 100 + id,
                                code: format!("T{id}"),
                                percent: Rate::new(Decimal::new(t, 2)).unwrap(),
                            },
                        );
                        100 + id
                    });
                    f.items.insert(
                        id,
                        ItemFacts {
                            id,
                            sku: format!("S{id}"),
                            base_unit: "PCS".into(),
                            item_group_id: Some(10 + id),
                            tax_rate_id: tax_id,
                            active: true,
                            weight: None,
                            bundle_pricing: BundlePricing::Own,
                        },
                    );
                    f.list_prices.push(PriceFacts {
                        id: id * 10,
                        ..price_row(id * 10, 1, id, &amount(price, dp).to_string(), "0")
                    });
                    // A tier: cheaper from `tier_min` on.
                    f.list_prices.push(PriceFacts {
                        id: id * 10 + 1,
                        ..price_row(id * 10 + 1, 1, id, &amount(price / 2 + 1, dp).to_string(), &tier_min.to_string())
                    });
                    if let Some(d) = group_discount {
                        f.discounts.push(DiscountFacts {
                            id,
                            customer_id: None,
                            item_group_id: 10 + id,
                            percent: Rate::new(Decimal::new(d, 2)).unwrap(),
                            valid_from: None,
                            valid_to: None,
                        });
                    }
                }
                let mut r = req("1");
                r.lines = lines
                    .into_iter()
                    .map(|(units, dp, k)| QuoteLineRequest {
                        item_id: (k % n) as i64 + 1,
                        quantity: Quantity::new(Decimal::new(units, dp)).unwrap(),
                        unit: None,
                        options: Default::default(),
                        components: vec![],
                    })
                    .collect();
                (f, r)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the basket: no panic, and the totals are the sums of the rounded
        /// lines — net, tax per rate, gross = net + tax — each line in whole cents.
        #[test]
        fn totals_are_the_sums_of_rounded_lines((f, r) in market(999_999, 1_000_000)) {
            let quote = price(&f, &r);
            prop_assert!(quote.is_ok(), "{quote:?}");
            let quote = quote.unwrap();
            let cents = |m: Money| m.value().normalize().scale() <= 2;
            let mut net = Decimal::ZERO;
            let mut tax = Decimal::ZERO;
            for l in &quote.lines {
                prop_assert!(cents(l.net) && cents(l.tax) && cents(l.gross), "line {l:?}");
                prop_assert_eq!(l.gross.value(), l.net.value() + l.tax.value());
                prop_assert!(!l.net.is_negative() && !l.tax.is_negative() && !l.discount.is_negative(), "line {l:?}");
                net += l.net.value();
                tax += l.tax.value();
            }
            let t = &quote.totals;
            prop_assert_eq!(t.shipping.value(), Decimal::ZERO);
            prop_assert_eq!(t.net.value(), net);
            prop_assert_eq!(t.gross.value(), t.net.value() + t.tax.value());
            prop_assert_eq!(t.taxes.iter().map(|x| x.net.value()).sum::<Decimal>(), t.net.value());
            prop_assert_eq!(t.taxes.iter().map(|x| x.tax.value()).sum::<Decimal>(), t.tax.value());
            prop_assert_eq!(t.tax.value(), tax, "tax is the sum of the lines' rounded taxes");
        }

        /// Amounts past what storage holds are refused with `amount_out_of_range`, never
        /// a panic or an internal error.
        #[test]
        fn huge_baskets_are_refused_not_crashed((f, r) in market(99_999_999_999_999, 99_999_999_999_999)) {
            if let Err(e) = price(&f, &r) {
                let refused = matches!(&e, ordo_core::DomainError::Rule { code, .. } if *code == "amount_out_of_range");
                prop_assert!(refused, "{e:?}");
            }
        }
    }
}
