//! Document lines, shared by quotations, sales orders and blanket orders: what a line
//! is, how a document is priced through the price engine (with manual overrides and
//! locked lines copied from another document), and how lines are stored so that an
//! edit writes only the lines whose values changed.

use diesel::prelude::*;
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Permission, Quantity, Rate, Result};
use ordo_db::schema::{campaigns, document_lines, territories};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use ordo_pricing::model::{BaseCurrencyTotals, Quote, QuoteLineRequest, QuoteRequest};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use time::Date;
use validator::Validate;

/// Which document a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Quotation,
    SalesOrder,
    BlanketOrder,
    Invoice,
    CreditNote,
}

impl DocKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DocKind::Quotation => "quotation",
            DocKind::SalesOrder => "sales_order",
            DocKind::BlanketOrder => "blanket_order",
            DocKind::Invoice => "invoice",
            DocKind::CreditNote => "credit_note",
        }
    }
}

/// Production progress of an order line, set by an external planning system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductionState {
    NotPlanned,
    Planned,
    InProduction,
    Done,
}

impl ProductionState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProductionState::NotPlanned => "not_planned",
            ProductionState::Planned => "planned",
            ProductionState::InProduction => "in_production",
            ProductionState::Done => "done",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::NotPlanned, Self::Planned, Self::InProduction, Self::Done].into_iter().find(|x| x.as_str() == s)
    }
}

/// A document line as written (also the shape a line PATCH merges into).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub item_id: i64,
    /// Default: the item's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub description: Option<String>,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Default: the item's base unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_catalog::model::unit_code"))]
    #[schema(pattern = "^[A-Z0-9_]{1,10}$")]
    pub unit: Option<String>,
    /// Chosen options of a configurable item: option group name → choice code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Optional components chosen for a bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<i64>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_date: Option<Date>,
    /// A net unit price set by hand instead of the engine's (needs `price_override` and a reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub manual_price: Option<Money>,
    /// A discount in percent set by hand instead of the engine's (needs `price_override` and a reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub manual_discount_percent: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub override_reason: Option<String>,
    /// Sales orders: the blanket order line this line calls off (takes its agreed price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blanket_line_id: Option<i64>,
    /// The warehouse this line is served from; default the order's, else the customer's
    /// default warehouse, else the company's default warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<i64>,
}

impl LineInput {
    /// Whether the two would be priced alike: same item, quantity, unit, options,
    /// components and hand-set price. A price copied from another document only stands
    /// while this holds (a new requested date or description keeps it).
    pub fn prices_alike(&self, other: &LineInput) -> bool {
        self.item_id == other.item_id
            && self.quantity == other.quantity
            && self.unit == other.unit
            && self.options == other.options
            && self.components == other.components
            && self.manual_price == other.manual_price
            && self.manual_discount_percent == other.manual_discount_percent
    }
    pub fn overridden(&self) -> bool {
        self.manual_price.is_some() || self.manual_discount_percent.is_some()
    }
}

/// A stored line with its price as the engine (or an override) computed it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub id: i64,
    /// 1-based order of the line in its document.
    pub position: i32,
    #[serde(flatten)]
    pub input: LineInput,
    /// The quantity in the item's base unit.
    pub base_quantity: Quantity,
    /// Unit price before discounts, in the document currency.
    pub unit_price: Money,
    pub discount: Money,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    pub tax_rate_id: Option<i64>,
    pub tax_percent: Rate,
    /// Set on a free line a pricing rule added.
    pub free_of_rule_id: Option<i64>,
    /// How the price came about: `source`, `adjustments`, `components`, `options`, and
    /// `locked_from` when the price was copied from another document.
    #[schema(value_type = Object)]
    pub pricing: Value,
    /// Sales orders: the item's standard cost per base unit when the line was priced.
    pub planned_unit_cost: Option<Money>,
    /// Sales orders: the actual cost reported for the line.
    pub actual_cost: Option<Money>,
    pub production_state: Option<ProductionState>,
    /// Blanket orders: how much of the line has been called off.
    pub called_off_quantity: Quantity,
    pub version: i64,
    /// The date order promising committed to (`POST .../promise?accept=true`).
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_date: Option<Date>,
    /// How that date can be met: `stock`, `expected_receipt` or `capable_to_promise`.
    pub promise_source: Option<String>,
    /// Sales orders: how much of the line is invoiced (draft and posted invoices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoiced: Option<Billed>,
    /// Invoices: how much of the line posted or draft credit notes credit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credited: Option<Billed>,
    /// Invoices: the order line this line bills; credit notes: the invoice line it corrects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line_id: Option<i64>,
    /// Invoices: the delivery line this line bills.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_line_id: Option<i64>,
    /// Only with `?include=availability`: stock and promise facts from fulfillment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<LineAvailability>,
    /// Only with `?expand=lines.item`: the item's SKU, name and base unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<crate::expand::ItemRef>,
}

/// What has been billed of a line (invoiced of an order line, credited of an invoice
/// line): quantity in the item's base unit, amounts in the document currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Billed {
    pub quantity: Quantity,
    pub net: Money,
    pub tax: Money,
}

/// The stock side of a line, filled in by fulfillment on request: the seam between
/// documents and stock (sales-docs does not read stock itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineAvailability {
    /// The warehouse the line is (or would be) served from.
    pub warehouse_id: Option<i64>,
    /// Unreserved stock of the item there now (base units).
    pub available_now: Quantity,
    /// Confirmed orders: ordered, reserved, back-ordered, delivered and returned base units.
    pub ordered: Option<Quantity>,
    pub reserved: Option<Quantity>,
    pub backordered: Option<Quantity>,
    pub delivered: Option<Quantity>,
    pub returned: Option<Quantity>,
    /// The earliest date promising finds for what is still open, and how.
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub earliest_date: Option<Date>,
    pub source: Option<String>,
    /// Cost of what was delivered, from the ledger (document currency = base here).
    pub delivered_cost: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = document_lines, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct LineRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub doc_kind: String,
    pub doc_id: i64,
    pub position: i32,
    pub item_id: i64,
    pub description: Option<String>,
    pub quantity: i64,
    pub unit: String,
    pub base_quantity: i64,
    pub options: String,
    pub components: String,
    pub requested_date: Option<Date>,
    pub unit_price: i64,
    pub discount: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub tax_rate_id: Option<i64>,
    pub tax_percent: i64,
    pub manual_price: Option<i64>,
    pub manual_discount_percent: Option<i64>,
    pub override_reason: Option<String>,
    pub pricing: String,
    pub free_of_rule_id: Option<i64>,
    pub planned_unit_cost: Option<i64>,
    pub actual_cost: Option<i64>,
    pub production_state: Option<String>,
    pub blanket_line_id: Option<i64>,
    pub called_off_quantity: i64,
    pub version: i64,
    pub promised_date: Option<Date>,
    pub promise_source: Option<String>,
    pub warehouse_id: Option<i64>,
    /// Counters that billing changes with conditional updates only: never written
    /// from a whole row.
    #[diesel(skip_insertion, skip_update)]
    pub billed_quantity: i64,
    #[diesel(skip_insertion, skip_update)]
    pub billed_net: i64,
    #[diesel(skip_insertion, skip_update)]
    pub billed_tax: i64,
    pub source_line_id: Option<i64>,
    pub delivery_line_id: Option<i64>,
}

fn corrupt(id: i64, what: &str) -> DomainError {
    DomainError::Internal(format!("document line {id}: stored {what} is unreadable"))
}

impl LineRow {
    pub fn input(&self) -> Result<LineInput> {
        Ok(LineInput {
            item_id: self.item_id,
            description: self.description.clone(),
            quantity: Quantity::from_scaled(self.quantity),
            unit: Some(self.unit.clone()),
            options: serde_json::from_str(&self.options).map_err(|_| corrupt(self.id, "options"))?,
            components: serde_json::from_str(&self.components).map_err(|_| corrupt(self.id, "components"))?,
            requested_date: self.requested_date,
            manual_price: self.manual_price.map(Money::from_scaled),
            manual_discount_percent: self.manual_discount_percent.map(Rate::from_scaled),
            override_reason: self.override_reason.clone(),
            blanket_line_id: self.blanket_line_id,
            warehouse_id: self.warehouse_id,
        })
    }

    pub fn to_model(&self) -> Result<Line> {
        Ok(Line {
            id: self.id,
            position: self.position,
            input: self.input()?,
            base_quantity: Quantity::from_scaled(self.base_quantity),
            unit_price: Money::from_scaled(self.unit_price),
            discount: Money::from_scaled(self.discount),
            net: Money::from_scaled(self.net),
            tax: Money::from_scaled(self.tax),
            gross: Money::from_scaled(self.gross),
            tax_rate_id: self.tax_rate_id,
            tax_percent: Rate::from_scaled(self.tax_percent),
            free_of_rule_id: self.free_of_rule_id,
            pricing: serde_json::from_str(&self.pricing).map_err(|_| corrupt(self.id, "pricing"))?,
            planned_unit_cost: self.planned_unit_cost.map(Money::from_scaled),
            actual_cost: self.actual_cost.map(Money::from_scaled),
            production_state: self.production_state.as_deref().and_then(ProductionState::parse),
            called_off_quantity: Quantity::from_scaled(self.called_off_quantity),
            version: self.version,
            promised_date: self.promised_date,
            promise_source: self.promise_source.clone(),
            invoiced: (self.doc_kind == DocKind::SalesOrder.as_str()).then(|| self.billed()),
            credited: (self.doc_kind == DocKind::Invoice.as_str()).then(|| self.billed()),
            source_line_id: self.source_line_id,
            delivery_line_id: self.delivery_line_id,
            availability: None,
            item: None,
        })
    }

    fn billed(&self) -> Billed {
        Billed {
            quantity: Quantity::from_scaled(self.billed_quantity),
            net: Money::from_scaled(self.billed_net),
            tax: Money::from_scaled(self.billed_tax),
        }
    }

    /// Whether the price was copied from another document and stays as it is.
    pub fn locked_from(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.pricing)
            .ok()
            .and_then(|v| v.get("locked_from").and_then(|l| l.as_str()).map(str::to_string))
    }
}

/// Document totals as the engine computes them (lines rounded per line, then summed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocTotals {
    /// Lines plus shipping, after discounts, before tax.
    pub net: Money,
    pub shipping: Money,
    pub discount: Money,
    pub tax: Money,
    pub gross: Money,
    pub taxes: Vec<DocTax>,
    /// The totals in the company's base currency: per tax rate, net and tax are each
    /// converted at `base_rate` and rounded to the base currency's minor unit; the
    /// totals are their sums, and base gross = base net + base tax.
    pub base_currency: Currency,
    /// Base currency units per document currency unit, 8 decimals.
    pub base_rate: Rate,
    pub base_net: Money,
    #[serde(default)]
    pub base_tax: Money,
    pub base_gross: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocTax {
    pub tax_rate_id: Option<i64>,
    pub percent: Rate,
    pub net: Money,
    pub tax: Money,
    #[serde(default)]
    pub base_net: Money,
    #[serde(default)]
    pub base_tax: Money,
}

/// What the header stores about its pricing (the `pricing` column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderPricing {
    pub totals: DocTotals,
    pub shipping_rule_id: Option<i64>,
    pub coupon_rule_id: Option<i64>,
    pub explanation: Vec<String>,
    /// Invoices: the orders whose shipping this invoice bills.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipping_orders: Vec<i64>,
}

impl HeaderPricing {
    /// The header columns a priced document stores: net, gross, base net and this as JSON.
    pub fn columns(&self) -> (i64, i64, i64, String) {
        (
            self.totals.net.to_scaled(),
            self.totals.gross.to_scaled(),
            self.totals.base_net.to_scaled(),
            ordo_core::util::json_text(self),
        )
    }
    pub fn parse(s: &str, doc: &str) -> Result<HeaderPricing> {
        let mut p: HeaderPricing = serde_json::from_str(s)
            .map_err(|_| DomainError::Internal(format!("{doc}: stored pricing is unreadable")))?;
        // Stored before base_tax existed: what gross and net leave for it.
        if p.totals.base_tax == Money::ZERO && p.totals.base_gross != p.totals.base_net {
            p.totals.base_tax = Money::new(p.totals.base_gross.value() - p.totals.base_net.value()).unwrap_or_default();
        }
        Ok(p)
    }
    /// An empty document (no lines yet).
    pub fn empty(base_currency: Currency) -> HeaderPricing {
        HeaderPricing {
            totals: DocTotals {
                net: Money::ZERO,
                shipping: Money::ZERO,
                discount: Money::ZERO,
                tax: Money::ZERO,
                gross: Money::ZERO,
                taxes: vec![],
                base_currency,
                base_rate: Rate::from_scaled(100_000_000),
                base_net: Money::ZERO,
                base_tax: Money::ZERO,
                base_gross: Money::ZERO,
            },
            shipping_rule_id: None,
            coupon_rule_id: None,
            explanation: vec!["The document has no lines.".into()],
            shipping_orders: vec![],
        }
    }
}

/// The header facts that pricing depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct PricingHeader {
    pub customer_id: i64,
    pub currency: Currency,
    pub date: Date,
    pub price_list_id: Option<i64>,
    pub coupon_code: Option<String>,
    pub campaign_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub shipping_country: Option<String>,
}

/// A line to price: its input, plus the locked values when it was copied.
#[derive(Debug, Clone)]
pub struct PricingLine {
    pub input: LineInput,
    pub locked: Option<LineRow>,
}

/// One priced line ready to store (no id/doc/position yet).
#[derive(Debug, Clone)]
pub struct PricedLine {
    pub input: LineInput,
    pub unit: String,
    pub base_quantity: i64,
    pub unit_price: i64,
    pub discount: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub tax_rate_id: Option<i64>,
    pub tax_percent: i64,
    pub pricing: Value,
    pub free_of_rule_id: Option<i64>,
    pub planned_unit_cost: Option<i64>,
}

pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub header: HeaderPricing,
}

pub(crate) fn money(d: Decimal) -> Result<Money> {
    Money::new(round_to(d, Money::SCALE))
        .map_err(|e| ordo_core::error::amount_out_of_range("lines", format!("a computed amount is out of range: {e}")))
}

/// The caller may set prices by hand only with `price_override` and a reason. Only
/// lines whose override is new or changed are checked, so anyone may edit other lines
/// of a document a manager overrode.
pub fn check_overrides(caller: &Caller, lines: &[(usize, &LineInput, Option<&LineInput>)]) -> Result<()> {
    let mut errs = vec![];
    for (n, l, before) in lines {
        let changed = before.is_none_or(|b| {
            b.manual_price != l.manual_price
                || b.manual_discount_percent != l.manual_discount_percent
                || b.override_reason != l.override_reason
        });
        if !l.overridden() || !changed {
            continue;
        }
        caller.require(Permission::PriceOverride)?;
        if l.override_reason.is_none() {
            errs.push(FieldError::new(
                format!("lines[{n}].override_reason"),
                "required",
                "a manual price or discount needs a reason",
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errs))
    }
}

/// Quotations and blanket orders do not call off blanket orders: only a sales order's
/// line may name `blanket_line_id` (422 naming the line otherwise, whatever the id).
/// `lines` are (field prefix, line): `lines[0].` in a document body, empty for a body
/// that is one line.
pub fn no_call_offs<'a>(lines: impl IntoIterator<Item = (String, &'a LineInput)>) -> Result<()> {
    let errs: Vec<FieldError> = lines
        .into_iter()
        .filter(|(_, l)| l.blanket_line_id.is_some())
        .map(|(prefix, _)| {
            FieldError::new(
                format!("{prefix}blanket_line_id"),
                "orders_only",
                "only sales order lines call off a blanket order",
            )
        })
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errs))
    }
}

/// Prices a document's lines through the engine (a constant number of statements),
/// applies manual overrides and keeps locked lines as they are.
pub fn price(
    conn: &mut DbConnection,
    caller: &Caller,
    h: &PricingHeader,
    lines: &[PricingLine],
    base_currency: Currency,
    with_costs: bool,
) -> Result<Priced> {
    if lines.is_empty() {
        return Ok(Priced { lines: vec![], header: HeaderPricing::empty(base_currency) });
    }
    let named: Vec<(String, i64)> = lines
        .iter()
        .enumerate()
        .filter_map(|(n, l)| l.input.warehouse_id.map(|w| (format!("lines[{n}].warehouse_id"), w)))
        .collect();
    ordo_db::refs::sellable_warehouses(conn, &named)?;
    let campaign_code: Option<String> = match h.campaign_id {
        Some(c) => campaigns::table.find(c).select(campaigns::code).first(conn).optional()?,
        None => None,
    };
    let territory: Option<String> = match h.territory_id {
        Some(t) => territories::table.find(t).select(territories::name).first(conn).optional()?,
        None => None,
    };
    let req = QuoteRequest {
        customer_id: h.customer_id,
        currency: Some(h.currency),
        date: Some(h.date),
        price_list_id: h.price_list_id,
        lines: lines
            .iter()
            .map(|l| QuoteLineRequest {
                item_id: l.input.item_id,
                quantity: l.input.quantity,
                unit: l.input.unit.clone(),
                options: l.input.options.clone(),
                components: l.input.components.clone(),
            })
            .collect(),
        coupon_code: h.coupon_code.clone(),
        campaign_id: None,
        campaign_code,
        territory_id: None,
        territory,
        shipping_country: h.shipping_country.clone(),
    };
    // Quote errors name `lines[n]...`: exactly the document's line index.
    let mut quote = ordo_pricing::service::quote::quote(conn, caller, &req, base_currency)?;
    // The engine read the items' standard costs with the rest of their pricing facts.
    let costs: HashMap<i64, i64> = if with_costs { std::mem::take(&mut quote.item_costs) } else { HashMap::new() };
    assemble(caller, &quote, lines, &costs, base_currency)
}

fn assemble(
    caller: &Caller,
    quote: &Quote,
    lines: &[PricingLine],
    costs: &HashMap<i64, i64>,
    base_currency: Currency,
) -> Result<Priced> {
    let dp = u32::from(quote.currency.minor_units());
    let hundred = Decimal::from(100);
    let mut explanation = quote.explanation.clone();
    let mut out = Vec::with_capacity(quote.lines.len());
    // The engine answers the input lines in order, each followed by the free lines it earned.
    let mut next_input = 0;
    for q in &quote.lines {
        let free = match &q.source {
            ordo_pricing::model::PriceSource::FreeItem { pricing_rule_id } => Some(*pricing_rule_id),
            _ => None,
        };
        let source = if free.is_some() {
            None
        } else {
            next_input += 1;
            lines.get(next_input - 1)
        };
        let mut pricing = serde_json::json!({
            "source": q.source,
            "adjustments": q.adjustments,
            "components": q.components,
            "options": q.options,
        });
        let mut p = PricedLine {
            input: match source {
                Some(s) => s.input.clone(),
                None => LineInput {
                    item_id: q.item_id,
                    description: None,
                    quantity: q.quantity,
                    unit: Some(q.unit.clone()),
                    options: BTreeMap::new(),
                    components: vec![],
                    requested_date: None,
                    manual_price: None,
                    manual_discount_percent: None,
                    override_reason: None,
                    blanket_line_id: None,
                    warehouse_id: None,
                },
            },
            unit: q.unit.clone(),
            base_quantity: q.base_quantity.to_scaled(),
            unit_price: q.base_unit_price.to_scaled(),
            discount: q.discount.to_scaled(),
            net: q.net.to_scaled(),
            tax: q.tax.to_scaled(),
            gross: q.gross.to_scaled(),
            tax_rate_id: q.tax_rate_id,
            tax_percent: q.tax_percent.to_scaled(),
            pricing: Value::Null,
            free_of_rule_id: free,
            planned_unit_cost: costs.get(&q.item_id).copied(),
        };
        p.input.unit = Some(q.unit.clone());
        if let Some(s) = source {
            if let Some(locked) = &s.locked {
                // Copied from another document: its price stands.
                p.unit_price = locked.unit_price;
                p.discount = locked.discount;
                p.net = locked.net;
                p.tax = locked.tax;
                p.gross = locked.gross;
                p.tax_rate_id = locked.tax_rate_id;
                p.tax_percent = locked.tax_percent;
                pricing = serde_json::from_str(&locked.pricing).unwrap_or(Value::Null);
                explanation.push(format!(
                    "Line {}: price kept from {}.",
                    q.line,
                    locked.locked_from().unwrap_or_else(|| "the source document".into())
                ));
            } else if s.input.overridden() {
                let qty = q.quantity.value();
                let undiscounted = match s.input.manual_price {
                    Some(mp) => qty * mp.value(),
                    None => q.net.value() + q.discount.value(),
                };
                let pct = s.input.manual_discount_percent.map(|r| r.value()).unwrap_or(Decimal::ZERO);
                let net = round_to(undiscounted * (hundred - pct) / hundred, dp);
                let tax = round_to(net * q.tax_percent.value() / hundred, dp);
                p.unit_price = match s.input.manual_price {
                    Some(mp) => mp.to_scaled(),
                    None => p.unit_price,
                };
                p.net = money(net)?.to_scaled();
                p.tax = money(tax)?.to_scaled();
                p.gross = money(net + tax)?.to_scaled();
                p.discount = money(round_to(undiscounted, dp) - net)?.to_scaled();
                let by = caller.principal.name.clone();
                pricing["override"] = serde_json::json!({
                    "manual_price": s.input.manual_price,
                    "manual_discount_percent": s.input.manual_discount_percent,
                    "reason": s.input.override_reason,
                    "by": by,
                    "engine_net": q.net,
                });
                explanation.push(format!(
                    "Line {}: set by hand{}{} by {} (reason: {}); the engine had {} net.",
                    q.line,
                    s.input.manual_price.map(|m| format!(", unit price {m}")).unwrap_or_default(),
                    s.input.manual_discount_percent.map(|r| format!(", discount {r}%")).unwrap_or_default(),
                    by,
                    s.input.override_reason.as_deref().unwrap_or("-"),
                    q.net
                ));
            }
        }
        p.pricing = pricing;
        out.push(p);
    }
    let header = totals(quote, &out, dp, base_currency, explanation)?;
    Ok(Priced { lines: out, header })
}

/// Document totals from the (possibly overridden) lines plus the engine's shipping.
fn totals(
    quote: &Quote,
    lines: &[PricedLine],
    dp: u32,
    base_currency: Currency,
    explanation: Vec<String>,
) -> Result<HeaderPricing> {
    let sum = |f: fn(&PricedLine) -> i64| -> Decimal { lines.iter().map(|l| Money::from_scaled(f(l)).value()).sum() };
    let shipping_net = quote.shipping.as_ref().map(|s| s.net.value()).unwrap_or_default();
    let shipping_tax = quote.shipping.as_ref().map(|s| s.tax.value()).unwrap_or_default();
    let net = sum(|l| l.net) + shipping_net;
    let tax = sum(|l| l.tax) + shipping_tax;
    let discount = sum(|l| l.discount);
    let mut by_rate: BTreeMap<(Option<i64>, i64), (Decimal, Decimal)> = BTreeMap::new();
    for l in lines {
        let e = by_rate.entry((l.tax_rate_id, l.tax_percent)).or_default();
        e.0 += Money::from_scaled(l.net).value();
        e.1 += Money::from_scaled(l.tax).value();
    }
    if let Some(s) = &quote.shipping {
        let t = quote.totals.taxes.iter().find(|t| t.tax_rate_id == s.tax_rate_id);
        let pct = t.map(|t| t.percent.to_scaled()).unwrap_or(0);
        let e = by_rate.entry((s.tax_rate_id, pct)).or_default();
        e.0 += s.net.value();
        e.1 += s.tax.value();
    }
    let BaseCurrencyTotals { rate, .. } = quote.base_currency.clone();
    let bdp = u32::from(base_currency.minor_units());
    // Round two per rate, derive the rest by adding (as the engine does).
    let taxes = by_rate
        .into_iter()
        .map(|((id, pct), (n, t))| {
            Ok(DocTax {
                tax_rate_id: id,
                percent: Rate::from_scaled(pct),
                net: money(n)?,
                tax: money(t)?,
                base_net: money(round_to(n * rate.value(), bdp))?,
                base_tax: money(round_to(t * rate.value(), bdp))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let base_net: Decimal = taxes.iter().map(|t| t.base_net.value()).sum();
    let base_tax: Decimal = taxes.iter().map(|t| t.base_tax.value()).sum();
    let base_gross = base_net + base_tax;
    Ok(HeaderPricing {
        totals: DocTotals {
            net: money(round_to(net, dp))?,
            shipping: money(shipping_net)?,
            discount: money(round_to(discount, dp))?,
            tax: money(round_to(tax, dp))?,
            gross: money(round_to(net + tax, dp))?,
            taxes,
            base_currency,
            base_rate: rate,
            base_net: money(base_net)?,
            base_tax: money(base_tax)?,
            base_gross: money(base_gross)?,
        },
        shipping_rule_id: quote.shipping.as_ref().map(|s| s.shipping_rule_id),
        coupon_rule_id: quote.coupon.as_ref().map(|c| c.pricing_rule_id),
        explanation,
        shipping_orders: vec![],
    })
}

impl PricedLine {
    /// The full row for this line at `position` of document `doc`.
    pub fn row(&self, kind: DocKind, doc_id: i64, position: i32, id: i64, keep: Option<&LineRow>) -> LineRow {
        LineRow {
            id,
            doc_kind: kind.as_str().into(),
            doc_id,
            position,
            item_id: self.input.item_id,
            description: self.input.description.clone(),
            quantity: self.input.quantity.to_scaled(),
            unit: self.unit.clone(),
            base_quantity: self.base_quantity,
            options: serde_json::to_string(&self.input.options).unwrap_or_else(|_| "{}".into()),
            components: serde_json::to_string(&self.input.components).unwrap_or_else(|_| "[]".into()),
            requested_date: self.input.requested_date,
            unit_price: self.unit_price,
            discount: self.discount,
            net: self.net,
            tax: self.tax,
            gross: self.gross,
            tax_rate_id: self.tax_rate_id,
            tax_percent: self.tax_percent,
            manual_price: self.input.manual_price.map(|m| m.to_scaled()),
            manual_discount_percent: self.input.manual_discount_percent.map(|r| r.to_scaled()),
            override_reason: self.input.override_reason.clone(),
            pricing: self.pricing.to_string(),
            free_of_rule_id: self.free_of_rule_id,
            planned_unit_cost: match kind {
                DocKind::SalesOrder => keep.and_then(|k| k.planned_unit_cost).or(self.planned_unit_cost),
                _ => None,
            },
            actual_cost: keep.and_then(|k| k.actual_cost),
            production_state: match kind {
                DocKind::SalesOrder => {
                    Some(keep.and_then(|k| k.production_state.clone()).unwrap_or_else(|| "not_planned".into()))
                }
                _ => None,
            },
            blanket_line_id: self.input.blanket_line_id,
            called_off_quantity: keep.map(|k| k.called_off_quantity).unwrap_or(0),
            version: keep.map(|k| k.version).unwrap_or(1),
            promised_date: keep.and_then(|k| k.promised_date),
            promise_source: keep.and_then(|k| k.promise_source.clone()),
            warehouse_id: self.input.warehouse_id,
            billed_quantity: keep.map(|k| k.billed_quantity).unwrap_or(0),
            billed_net: keep.map(|k| k.billed_net).unwrap_or(0),
            billed_tax: keep.map(|k| k.billed_tax).unwrap_or(0),
            source_line_id: keep.and_then(|k| k.source_line_id),
            delivery_line_id: keep.and_then(|k| k.delivery_line_id),
        }
    }
}

pub fn load(conn: &mut DbConnection, kind: DocKind, doc_id: i64) -> Result<Vec<LineRow>> {
    Ok(document_lines::table
        .filter(document_lines::doc_kind.eq(kind.as_str()))
        .filter(document_lines::doc_id.eq(doc_id))
        .order(document_lines::position.asc())
        .select(LineRow::as_select())
        .load(conn)?)
}

/// Writes a freshly priced document's lines in one batch.
pub fn insert_all(conn: &mut DbConnection, kind: DocKind, doc_id: i64, priced: &[PricedLine]) -> Result<Vec<LineRow>> {
    let rows: Vec<LineRow> =
        priced.iter().enumerate().map(|(n, p)| p.row(kind, doc_id, n as i32 + 1, 0, None)).collect();
    Ok(ordo_db::insert_batch!(conn, document_lines::table, &rows,
        returning document_lines::all_columns => LineRow))
}

/// Brings stored lines in line with a re-priced document, touching only what changed:
/// `existing[i]` is the stored row for `priced[i]` where there is one (free lines are
/// matched by rule and item). Unchanged rows are not written.
pub fn sync(
    conn: &mut DbConnection,
    kind: DocKind,
    doc_id: i64,
    existing: &[Option<LineRow>],
    priced: &[PricedLine],
    removed: &[i64],
) -> Result<Vec<LineRow>> {
    if !removed.is_empty() {
        diesel::delete(document_lines::table.filter(document_lines::id.eq_any(removed))).execute(conn)?;
    }
    let mut out = Vec::with_capacity(priced.len());
    let mut inserts = vec![];
    for (n, p) in priced.iter().enumerate() {
        let position = n as i32 + 1;
        match existing.get(n).and_then(|e| e.as_ref()) {
            Some(old) => {
                let mut next = p.row(kind, doc_id, position, old.id, Some(old));
                if &next == old {
                    out.push(old.clone());
                    continue;
                }
                next.version = old.version + 1;
                let saved: LineRow = diesel::update(document_lines::table.find(old.id))
                    .set(&next)
                    .returning(document_lines::all_columns)
                    .get_result(conn)?;
                out.push(saved);
            }
            None => {
                inserts.push((out.len(), p.row(kind, doc_id, position, 0, None)));
                out.push(p.row(kind, doc_id, position, 0, None));
            }
        }
    }
    if !inserts.is_empty() {
        let rows: Vec<LineRow> = inserts.iter().map(|(_, r)| r.clone()).collect();
        let saved = ordo_db::insert_batch!(conn, document_lines::table, &rows,
            returning document_lines::all_columns => LineRow);
        for ((slot, _), row) in inserts.iter().zip(saved) {
            out[*slot] = row;
        }
    }
    Ok(out)
}

/// Matches re-priced lines to stored ones: the document's own lines by input order
/// (`own[i]` is the stored id of input line `i`, if it has one), free lines by (rule,
/// item). Returns the stored row per priced line and the ids of stored rows nothing
/// matched.
pub fn match_rows(
    stored: Vec<LineRow>,
    own: &[Option<i64>],
    priced: &[PricedLine],
) -> (Vec<Option<LineRow>>, Vec<i64>) {
    let mut by_id: HashMap<i64, LineRow> = stored.into_iter().map(|r| (r.id, r)).collect();
    let mut out: Vec<Option<LineRow>> = Vec::with_capacity(priced.len());
    let mut next_input = 0;
    for p in priced {
        let found = match p.free_of_rule_id {
            None => {
                next_input += 1;
                own.get(next_input - 1).copied().flatten().and_then(|id| by_id.remove(&id))
            }
            Some(rule) => {
                let key = by_id
                    .values()
                    .find(|r| r.free_of_rule_id == Some(rule) && r.item_id == p.input.item_id)
                    .map(|r| r.id);
                key.and_then(|k| by_id.remove(&k))
            }
        };
        out.push(found);
    }
    let removed = by_id.into_keys().collect();
    (out, removed)
}
