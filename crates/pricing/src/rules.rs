//! Pricing rules, coupons and shipping rules: models, rows and use cases. They are
//! patched in their create shape (merge-patch onto the current state, re-validated).

use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::time_util::now;
use ordo_core::util::{check_version, json_text, to_json, Removal};
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Page, PageRequest, Quantity, Rate, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{coupons, item_groups, items, pricing_rules, shipping_rules, tax_rates};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::{Validate, ValidationError};

use crate::model::validity;
use crate::repo::unique_as;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Take `percent` off the line.
    DiscountPercent,
    /// Take `amount` off each unit (rule `currency`).
    DiscountAmount,
    /// Sell each unit at `amount` (rule `currency`).
    FixedPrice,
    /// For every `buy_quantity` bought, add `free_quantity` of `free_item_id` at no charge.
    FreeItem,
}

impl RuleAction {
    fn as_str(&self) -> &'static str {
        match self {
            RuleAction::DiscountPercent => "discount_percent",
            RuleAction::DiscountAmount => "discount_amount",
            RuleAction::FixedPrice => "fixed_price",
            RuleAction::FreeItem => "free_item",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [RuleAction::DiscountPercent, RuleAction::DiscountAmount, RuleAction::FixedPrice, RuleAction::FreeItem]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

fn code_chars(c: &str) -> Result<(), ValidationError> {
    if !c.is_empty() && c.len() <= 40 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        let mut e = ValidationError::new("code");
        e.message = Some("must be 1-40 letters, digits, - or _".into());
        Err(e)
    }
}

/// A pricing rule as written (also the shape PATCH merges into).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingRuleCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Lower runs first; default 100.
    #[serde(default = "default_priority")]
    #[validate(range(min = 0, max = 10000))]
    #[schema(minimum = 0, maximum = 10000)]
    pub priority: i32,
    /// An exclusive rule that applies stops every later rule and the standard discounts for its line.
    #[serde(default)]
    pub exclusive: bool,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    /// Currency of `amount` and the amount conditions; such rules apply only to documents
    /// in it. Without one, the amount conditions are in the company's base currency and
    /// a document's amounts are converted at the date's rate to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Target: one item, one item group, or (neither) every item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_group_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    /// Applies to customers carrying this tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 50))]
    pub customer_tag: Option<String>,
    /// Applies when the document names this campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 50))]
    pub campaign_code: Option<String>,
    /// Applies when the document names this territory.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 50))]
    pub territory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_line_amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_line_amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_order_amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_order_amount: Option<Money>,
    /// Only a coupon unlocks this rule.
    #[serde(default)]
    pub coupon_only: bool,
    pub action: RuleAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub percent: Option<Rate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_item_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub buy_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub free_quantity: Option<Quantity>,
}

fn default_priority() -> i32 {
    100
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PricingRule {
    pub id: i64,
    #[serde(flatten)]
    pub rule: PricingRuleCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = pricing_rules, treat_none_as_null = true)]
pub struct PricingRuleRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub priority: i32,
    pub exclusive: bool,
    pub active: bool,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub currency: Option<String>,
    pub item_id: Option<i64>,
    pub item_group_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub customer_tag: Option<String>,
    pub campaign_code: Option<String>,
    pub territory: Option<String>,
    pub min_quantity: Option<i64>,
    pub max_quantity: Option<i64>,
    pub min_line_amount: Option<i64>,
    pub max_line_amount: Option<i64>,
    pub min_order_amount: Option<i64>,
    pub max_order_amount: Option<i64>,
    pub coupon_only: bool,
    pub action: String,
    pub percent: Option<i64>,
    pub amount: Option<i64>,
    pub free_item_id: Option<i64>,
    pub buy_quantity: Option<i64>,
    pub free_quantity: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl PricingRuleRow {
    fn from_create(id: i64, r: &PricingRuleCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        PricingRuleRow {
            id,
            name: r.name.trim().to_string(),
            priority: r.priority,
            exclusive: r.exclusive,
            active: r.active,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            currency: r.currency.map(|c| c.code().to_string()),
            item_id: r.item_id,
            item_group_id: r.item_group_id,
            customer_id: r.customer_id,
            customer_tag: r.customer_tag.clone(),
            campaign_code: r.campaign_code.clone(),
            territory: r.territory.clone(),
            min_quantity: r.min_quantity.map(|q| q.to_scaled()),
            max_quantity: r.max_quantity.map(|q| q.to_scaled()),
            min_line_amount: r.min_line_amount.map(|m| m.to_scaled()),
            max_line_amount: r.max_line_amount.map(|m| m.to_scaled()),
            min_order_amount: r.min_order_amount.map(|m| m.to_scaled()),
            max_order_amount: r.max_order_amount.map(|m| m.to_scaled()),
            coupon_only: r.coupon_only,
            action: r.action.as_str().to_string(),
            percent: r.percent.map(|p| p.to_scaled()),
            amount: r.amount.map(|m| m.to_scaled()),
            free_item_id: r.free_item_id,
            buy_quantity: r.buy_quantity.map(|q| q.to_scaled()),
            free_quantity: r.free_quantity.map(|q| q.to_scaled()),
            version,
            created_at,
            updated_at: now(),
        }
    }

    pub fn to_create(&self) -> Result<PricingRuleCreate> {
        Ok(PricingRuleCreate {
            name: self.name.clone(),
            priority: self.priority,
            exclusive: self.exclusive,
            active: self.active,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            currency: self.currency.as_deref().and_then(Currency::from_code),
            item_id: self.item_id,
            item_group_id: self.item_group_id,
            customer_id: self.customer_id,
            customer_tag: self.customer_tag.clone(),
            campaign_code: self.campaign_code.clone(),
            territory: self.territory.clone(),
            min_quantity: self.min_quantity.map(Quantity::from_scaled),
            max_quantity: self.max_quantity.map(Quantity::from_scaled),
            min_line_amount: self.min_line_amount.map(Money::from_scaled),
            max_line_amount: self.max_line_amount.map(Money::from_scaled),
            min_order_amount: self.min_order_amount.map(Money::from_scaled),
            max_order_amount: self.max_order_amount.map(Money::from_scaled),
            coupon_only: self.coupon_only,
            action: RuleAction::parse(&self.action)
                .ok_or_else(|| DomainError::Internal(format!("pricing rule {}: action {:?}", self.id, self.action)))?,
            percent: self.percent.map(Rate::from_scaled),
            amount: self.amount.map(Money::from_scaled),
            free_item_id: self.free_item_id,
            buy_quantity: self.buy_quantity.map(Quantity::from_scaled),
            free_quantity: self.free_quantity.map(Quantity::from_scaled),
        })
    }

    pub fn to_model(&self) -> Result<PricingRule> {
        Ok(PricingRule {
            id: self.id,
            rule: self.to_create()?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

use crate::service::{read, write};

/// Whether a query matches any row (inside a function returning `Result`).
macro_rules! exists {
    ($conn:expr, $q:expr) => {
        $q.count().get_result::<i64>($conn)? > 0
    };
}

pub mod pricing_rule_service {
    use super::*;

    pub const ENTITY: &str = "pricing_rule";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
        pub item_id: Option<i64>,
        pub item_group_id: Option<i64>,
    }

    /// Business checks beyond field validation; every failing field at once.
    fn check(conn: &mut DbConnection, caller: &Caller, r: &PricingRuleCreate) -> Result<()> {
        validity(r.valid_from, r.valid_to)?;
        let mut errs: Vec<FieldError> = vec![];
        let mut need = |ok: bool, field: &str, code: &str, msg: &str| {
            if !ok {
                errs.push(FieldError::new(field, code, msg));
            }
        };
        need(
            !(r.item_id.is_some() && r.item_group_id.is_some()),
            "item_group_id",
            "conflict",
            "give item_id or item_group_id, not both",
        );
        let has_condition = r.customer_id.is_some()
            || r.customer_tag.is_some()
            || r.campaign_code.is_some()
            || r.territory.is_some()
            || r.min_quantity.is_some()
            || r.max_quantity.is_some()
            || r.min_line_amount.is_some()
            || r.max_line_amount.is_some()
            || r.min_order_amount.is_some()
            || r.max_order_amount.is_some()
            || r.coupon_only;
        need(
            r.item_id.is_some() || r.item_group_id.is_some() || has_condition,
            "item_id",
            "no_target_or_condition",
            "a rule needs a target (item_id or item_group_id) or at least one condition",
        );
        match r.action {
            RuleAction::DiscountPercent => {
                need(r.percent.is_some(), "percent", "required", "required for discount_percent")
            }
            RuleAction::DiscountAmount | RuleAction::FixedPrice => {
                need(r.amount.is_some(), "amount", "required", "required for this action")
            }
            RuleAction::FreeItem => {
                need(r.free_item_id.is_some(), "free_item_id", "required", "required for free_item");
                need(r.buy_quantity.is_some(), "buy_quantity", "required", "required for free_item");
                need(r.free_quantity.is_some(), "free_quantity", "required", "required for free_item");
            }
        }
        // Amount conditions without a currency are in the base currency (documents'
        // amounts are converted to compare); an amount to take off or charge needs one.
        need(r.amount.is_none() || r.currency.is_some(), "currency", "required", "an amount needs a currency");
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        if let Some(i) = r.item_id {
            if !exists!(conn, items::table.filter(items::id.eq(i))) {
                return Err(DomainError::reference_not_found("item", "item_id", i));
            }
        }
        if let Some(i) = r.free_item_id {
            if !exists!(conn, items::table.filter(items::id.eq(i))) {
                return Err(DomainError::reference_not_found("item", "free_item_id", i));
            }
        }
        if let Some(g) = r.item_group_id {
            if !exists!(conn, item_groups::table.filter(item_groups::id.eq(g))) {
                return Err(DomainError::reference_not_found("item group", "item_group_id", g));
            }
        }
        if let Some(c) = r.customer_id {
            ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", c)?;
        }
        Ok(())
    }

    fn find(conn: &mut DbConnection, id: i64) -> Result<PricingRuleRow> {
        pricing_rules::table
            .find(id)
            .select(PricingRuleRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("pricing rule", id))
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: PricingRuleCreate) -> Result<PricingRule> {
        write(caller)?;
        check(conn, caller, &input)?;
        let ts = now();
        let row: PricingRuleRow = diesel::insert_into(pricing_rules::table)
            .values(PricingRuleRow::from_create(0, &input, 1, ts))
            .returning(pricing_rules::all_columns)
            .get_result(conn)?;
        let v = row.to_model()?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<PricingRule>> {
        read(caller)?;
        let mut q = pricing_rules::table.select(PricingRuleRow::as_select()).into_boxed();
        if let Some(a) = f.active {
            q = q.filter(pricing_rules::active.eq(a));
        }
        if let Some(i) = f.item_id {
            q = q.filter(pricing_rules::item_id.eq(i));
        }
        if let Some(g) = f.item_group_id {
            q = q.filter(pricing_rules::item_group_id.eq(g));
        }
        let rows = Page::from_rows(ordo_db::keyset!(q, page, pricing_rules::id).load(conn)?, page, |r| r.id);
        Ok(Page {
            data: rows.data.iter().map(|r| r.to_model()).collect::<Result<_>>()?,
            next_cursor: rows.next_cursor,
            total: rows.total,
        })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<PricingRule> {
        read(caller)?;
        find(conn, id)?.to_model()
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: MergePatch,
    ) -> Result<PricingRule> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let next = patched(&current.to_create()?, &p)?;
        check(conn, caller, &next)?;
        let row = PricingRuleRow::from_create(id, &next, current.version + 1, current.created_at);
        let saved: PricingRuleRow = diesel::update(
            pricing_rules::table.filter(pricing_rules::id.eq(id)).filter(pricing_rules::version.eq(current.version)),
        )
        .set(&row)
        .returning(pricing_rules::all_columns)
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
    ) -> Result<Removal<PricingRule>> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        if exists!(conn, coupons::table.filter(coupons::pricing_rule_id.eq(id))) {
            return Err(DomainError::conflict(
                "in_use",
                "coupons unlock this rule; delete them or deactivate the rule",
            ));
        }
        diesel::delete(pricing_rules::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, id)?;
        audit::history(conn, ENTITY, id, page)
    }
}

// ---- coupons ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponCreate {
    /// Case-insensitive; stored upper-case.
    #[validate(custom(function = "code_chars"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub code: String,
    /// The rule this coupon unlocks.
    pub pricing_rule_id: i64,
    /// Only this customer may use it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_from: Option<Date>,
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_to: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub max_uses: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub max_uses_per_customer: Option<i64>,
    #[serde(default = "yes")]
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Coupon {
    pub id: i64,
    #[serde(flatten)]
    pub coupon: CouponCreate,
    /// Redemptions so far (counted when sales documents are submitted).
    pub uses: i64,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = coupons, treat_none_as_null = true)]
pub struct CouponRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub code: String,
    pub pricing_rule_id: i64,
    pub customer_id: Option<i64>,
    pub valid_from: Option<Date>,
    pub valid_to: Option<Date>,
    pub max_uses: Option<i64>,
    pub max_uses_per_customer: Option<i64>,
    pub uses: i64,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl CouponRow {
    pub fn to_create(&self) -> CouponCreate {
        CouponCreate {
            code: self.code.clone(),
            pricing_rule_id: self.pricing_rule_id,
            customer_id: self.customer_id,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            max_uses: self.max_uses,
            max_uses_per_customer: self.max_uses_per_customer,
            active: self.active,
        }
    }
    pub fn to_model(&self) -> Coupon {
        Coupon {
            id: self.id,
            coupon: self.to_create(),
            uses: self.uses,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

pub mod coupon_service {
    use super::*;

    pub const ENTITY: &str = "coupon";

    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub pricing_rule_id: Option<i64>,
        pub code: Option<String>,
    }

    fn check(conn: &mut DbConnection, caller: &Caller, c: &CouponCreate) -> Result<()> {
        validity(c.valid_from, c.valid_to)?;
        if !exists!(conn, pricing_rules::table.filter(pricing_rules::id.eq(c.pricing_rule_id))) {
            return Err(DomainError::reference_not_found("pricing rule", "pricing_rule_id", c.pricing_rule_id));
        }
        if let Some(cust) = c.customer_id {
            ordo_crm::scope::referenced_customer(conn, caller.scope(), "customer_id", cust)?;
        }
        Ok(())
    }

    fn find(conn: &mut DbConnection, id: i64) -> Result<CouponRow> {
        coupons::table
            .find(id)
            .select(CouponRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("coupon", id))
    }

    fn row(id: i64, c: &CouponCreate, uses: i64, version: i64, created_at: PrimitiveDateTime) -> CouponRow {
        CouponRow {
            id,
            code: c.code.to_ascii_uppercase(),
            pricing_rule_id: c.pricing_rule_id,
            customer_id: c.customer_id,
            valid_from: c.valid_from,
            valid_to: c.valid_to,
            max_uses: c.max_uses,
            max_uses_per_customer: c.max_uses_per_customer,
            uses,
            active: c.active,
            version,
            created_at,
            updated_at: now(),
        }
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: CouponCreate) -> Result<Coupon> {
        write(caller)?;
        check(conn, caller, &input)?;
        let saved: CouponRow = diesel::insert_into(coupons::table)
            .values(row(0, &input, 0, 1, now()))
            .returning(coupons::all_columns)
            .get_result(conn)
            .map_err(unique_as("duplicate_code", "another coupon has this code"))?;
        let v = saved.to_model();
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Coupon>> {
        read(caller)?;
        let mut q = coupons::table.select(CouponRow::as_select()).into_boxed();
        if let Some(r) = f.pricing_rule_id {
            q = q.filter(coupons::pricing_rule_id.eq(r));
        }
        if let Some(c) = &f.code {
            q = q.filter(coupons::code.eq(c.to_ascii_uppercase()));
        }
        Ok(Page::from_rows(ordo_db::keyset!(q, page, coupons::id).load(conn)?, page, |r| r.id).map(|r| r.to_model()))
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Coupon> {
        read(caller)?;
        Ok(find(conn, id)?.to_model())
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: MergePatch,
    ) -> Result<Coupon> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let next = patched(&current.to_create(), &p)?;
        check(conn, caller, &next)?;
        let saved: CouponRow =
            diesel::update(coupons::table.filter(coupons::id.eq(id)).filter(coupons::version.eq(current.version)))
                .set(&row(id, &next, current.uses, current.version + 1, current.created_at))
                .returning(coupons::all_columns)
                .get_result(conn)
                .optional()
                .map_err(unique_as("duplicate_code", "another coupon has this code"))?
                .ok_or_else(|| DomainError::stale_version(current.version))?;
        let v = saved.to_model();
        audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()), &to_json(&v)))?;
        Ok(v)
    }

    /// A coupon that was redeemed stays (deactivate it); an unused one is deleted.
    pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Coupon>> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        if current.uses > 0 {
            return Err(DomainError::conflict("in_use", "the coupon was redeemed; deactivate it instead"));
        }
        diesel::delete(coupons::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, id)?;
        audit::history(conn, ENTITY, id, page)
    }
}

// ---- shipping rules -------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShippingBasis {
    /// The order's net amount (in the rule's currency).
    NetAmount,
    /// Total weight in kg.
    Weight,
    /// Number of units.
    ItemCount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShippingChargeKind {
    Fixed,
    /// Percent of the order's net amount.
    Percent,
}

fn countries(c: &[String]) -> Result<(), ValidationError> {
    c.iter().try_for_each(|x| ordo_core::validate::country_code(x))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRuleCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Lower is tried first; default 100. The first matching rule charges.
    #[serde(default = "default_priority")]
    #[validate(range(min = 0, max = 10000))]
    pub priority: i32,
    #[serde(default = "yes")]
    pub active: bool,
    /// ISO 3166-1 alpha-2 codes; empty = every country.
    #[serde(default)]
    #[validate(custom(function = "countries"))]
    pub countries: Vec<String>,
    pub basis: ShippingBasis,
    /// Inclusive lower bound of the basis value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_min: Option<Quantity>,
    /// Exclusive upper bound of the basis value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_max: Option<Quantity>,
    pub charge: ShippingChargeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub percent: Option<Rate>,
    pub currency: Currency,
    /// Free shipping from this net order amount on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_above: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_rate_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShippingRule {
    pub id: i64,
    #[serde(flatten)]
    pub rule: ShippingRuleCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = shipping_rules, treat_none_as_null = true)]
pub struct ShippingRuleRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub name: String,
    pub priority: i32,
    pub active: bool,
    pub countries: String,
    pub basis: String,
    pub range_min: Option<i64>,
    pub range_max: Option<i64>,
    pub charge: String,
    pub amount: Option<i64>,
    pub percent: Option<i64>,
    pub currency: String,
    pub free_above: Option<i64>,
    pub tax_rate_id: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ShippingRuleRow {
    fn from_create(id: i64, r: &ShippingRuleCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        ShippingRuleRow {
            id,
            name: r.name.trim().to_string(),
            priority: r.priority,
            active: r.active,
            countries: json_text(&r.countries),
            basis: serde_json::to_value(r.basis).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            range_min: r.range_min.map(|q| q.to_scaled()),
            range_max: r.range_max.map(|q| q.to_scaled()),
            charge: serde_json::to_value(r.charge).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            amount: r.amount.map(|m| m.to_scaled()),
            percent: r.percent.map(|p| p.to_scaled()),
            currency: r.currency.code().to_string(),
            free_above: r.free_above.map(|m| m.to_scaled()),
            tax_rate_id: r.tax_rate_id,
            version,
            created_at,
            updated_at: now(),
        }
    }

    pub fn to_create(&self) -> Result<ShippingRuleCreate> {
        let bad = |what: &str| DomainError::Internal(format!("shipping rule {}: stored {what} unreadable", self.id));
        Ok(ShippingRuleCreate {
            name: self.name.clone(),
            priority: self.priority,
            active: self.active,
            countries: serde_json::from_str(&self.countries).map_err(|_| bad("countries"))?,
            basis: serde_json::from_value(serde_json::Value::String(self.basis.clone())).map_err(|_| bad("basis"))?,
            range_min: self.range_min.map(Quantity::from_scaled),
            range_max: self.range_max.map(Quantity::from_scaled),
            charge: serde_json::from_value(serde_json::Value::String(self.charge.clone()))
                .map_err(|_| bad("charge"))?,
            amount: self.amount.map(Money::from_scaled),
            percent: self.percent.map(Rate::from_scaled),
            currency: Currency::from_code(&self.currency).ok_or_else(|| bad("currency"))?,
            free_above: self.free_above.map(Money::from_scaled),
            tax_rate_id: self.tax_rate_id,
        })
    }

    pub fn to_model(&self) -> Result<ShippingRule> {
        Ok(ShippingRule {
            id: self.id,
            rule: self.to_create()?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

pub mod shipping_rule_service {
    use super::*;

    pub const ENTITY: &str = "shipping_rule";

    fn check(conn: &mut DbConnection, r: &ShippingRuleCreate) -> Result<()> {
        let mut errs = vec![];
        match r.charge {
            ShippingChargeKind::Fixed if r.amount.is_none() => {
                errs.push(FieldError::new("amount", "required", "required for a fixed charge"))
            }
            ShippingChargeKind::Percent if r.percent.is_none() => {
                errs.push(FieldError::new("percent", "required", "required for a percent charge"))
            }
            _ => {}
        }
        if let (Some(a), Some(b)) = (r.range_min, r.range_max) {
            if b <= a {
                errs.push(FieldError::new("range_max", "range", "must be greater than range_min"));
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Validation(errs));
        }
        if let Some(t) = r.tax_rate_id {
            if !exists!(conn, tax_rates::table.filter(tax_rates::id.eq(t))) {
                return Err(DomainError::reference_not_found("tax rate", "tax_rate_id", t));
            }
        }
        Ok(())
    }

    fn find(conn: &mut DbConnection, id: i64) -> Result<ShippingRuleRow> {
        shipping_rules::table
            .find(id)
            .select(ShippingRuleRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DomainError::not_found("shipping rule", id))
    }

    pub fn create(conn: &mut DbConnection, caller: &Caller, input: ShippingRuleCreate) -> Result<ShippingRule> {
        write(caller)?;
        check(conn, &input)?;
        let saved: ShippingRuleRow = diesel::insert_into(shipping_rules::table)
            .values(ShippingRuleRow::from_create(0, &input, 1, now()))
            .returning(shipping_rules::all_columns)
            .get_result(conn)?;
        let v = saved.to_model()?;
        audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
        Ok(v)
    }

    pub fn list(conn: &mut DbConnection, caller: &Caller, _f: &(), page: &PageRequest) -> Result<Page<ShippingRule>> {
        read(caller)?;
        let q = shipping_rules::table.select(ShippingRuleRow::as_select()).into_boxed();
        let rows = Page::from_rows(ordo_db::keyset!(q, page, shipping_rules::id).load(conn)?, page, |r| r.id);
        Ok(Page {
            data: rows.data.iter().map(|r| r.to_model()).collect::<Result<_>>()?,
            next_cursor: rows.next_cursor,
            total: rows.total,
        })
    }

    pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ShippingRule> {
        read(caller)?;
        find(conn, id)?.to_model()
    }

    pub fn update(
        conn: &mut DbConnection,
        caller: &Caller,
        id: i64,
        if_match: Option<i64>,
        p: MergePatch,
    ) -> Result<ShippingRule> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        let next = patched(&current.to_create()?, &p)?;
        check(conn, &next)?;
        let saved: ShippingRuleRow = diesel::update(
            shipping_rules::table.filter(shipping_rules::id.eq(id)).filter(shipping_rules::version.eq(current.version)),
        )
        .set(&ShippingRuleRow::from_create(id, &next, current.version + 1, current.created_at))
        .returning(shipping_rules::all_columns)
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
    ) -> Result<Removal<ShippingRule>> {
        write(caller)?;
        let current = find(conn, id)?;
        check_version(if_match, current.version)?;
        diesel::delete(shipping_rules::table.find(id)).execute(conn)?;
        audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
        Ok(Removal::Deleted)
    }

    pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
        read(caller)?;
        find(conn, id)?;
        audit::history(conn, ENTITY, id, page)
    }
}
