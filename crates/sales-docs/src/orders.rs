//! Sales orders: `draft → pending_approval → approved → in_execution → completed`,
//! `cancelled` (a rejection cancels) and `archived`. Submitting puts an order on the
//! approval route of its type; approvals pass it stage by stage; confirming needs the
//! contract number, payment terms and the ticked checklist. A coupon is redeemed
//! atomically on submit and released on cancel.

use crate::docs::DOC_CUSTOMER;
use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, Currency, DomainError, FieldError, Money, Page, PageRequest, Permission, Result, Role};
use ordo_crm::model::{Address, CustomerStatus};
use ordo_db::audit::{self};
use ordo_db::schema::{
    coupon_redemptions, coupons, customers, document_lines, items, order_checklist_points, sales_orders,
};
use ordo_db::{series, DbConnection};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::core::{self, Document, Priced};
use crate::docs::{self, read, write, JournalStage};
use crate::lines::{self, DocKind, DocTotals, HeaderPricing, Line, LineInput, LineRow, PricingLine, ProductionState};
use crate::quotations::{today, Terms};
use crate::setup::{approval_route_service, checklist_template_service, StageCondition};
use ordo_pricing::engine::round_to;

pub const ENTITY: &str = "sales_order";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Draft,
    PendingApproval,
    Approved,
    InExecution,
    Completed,
    /// Cancelled by hand or rejected on its approval route.
    Cancelled,
    /// Read-only, out of default lists, still in every report.
    Archived,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        Self::Draft,
        Self::PendingApproval,
        Self::Approved,
        Self::InExecution,
        Self::Completed,
        Self::Cancelled,
        Self::Archived,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::InExecution => "in_execution",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Archived => "archived",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

fn standard() -> String {
    "standard".into()
}

/// A sales order as written. On PATCH the header fields merge into the current ones
/// and the lines are re-priced (drafts); until the order closes, `contract_number`,
/// `payment_terms_days`, `customer_po`, `delivery_terms` and `notes` may still change.
/// Lines change through `/sales-orders/{id}/lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesOrderCreate {
    pub customer_id: i64,
    /// Chooses the approval route and checklist; default `standard`.
    #[serde(default = "standard")]
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub order_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<i64>,
    /// The customer's purchase order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub customer_po: Option<String>,
    /// Default: the customer's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Order date; default today.
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
    /// Requested delivery date for the whole order (lines may have their own).
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_date: Option<Date>,
    /// Default: the customer's shipping address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(nested)]
    pub ship_to: Option<Address>,
    /// Default: the customer's. Required to confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub delivery_terms: Option<String>,
    /// Required to confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub contract_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_list_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_person_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_partner_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    /// Redeemed when the order is submitted, released when it is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 40))]
    #[schema(min_length = 1, max_length = 40)]
    pub coupon_code: Option<String>,
    /// Default: the ship-to country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::country_code"))]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub shipping_country: Option<String>,
    /// The warehouse the order is served from (lines may name their own); default the
    /// customer's default warehouse, else the company's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(length(max = 1000), nested)]
    #[schema(max_items = 1000)]
    pub lines: Vec<LineInput>,
}

/// One stage of the order's approval, as applied on submit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageState {
    pub name: String,
    pub role: Role,
    pub condition: Option<StageCondition>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided_at: Option<OffsetDateTime>,
    pub comment: Option<String>,
}

/// Where the order stands on its approval route, and when its milestones happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub route_id: Option<i64>,
    /// Only the stages whose condition held on submit.
    pub stages: Vec<StageState>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub submitted_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub approved_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub confirmed_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<OffsetDateTime>,
    /// The coupon redemption this order holds (released on cancel).
    #[serde(default)]
    pub coupon_redeemed: bool,
    /// Set when a sales manager let the order through a credit or obligo block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_override: Option<CreditOverride>,
}

/// Who let an order through credit control, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreditOverride {
    pub by: String,
    pub by_name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub reason: String,
}

/// A sales order with its priced lines (lists leave `lines` out).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SalesOrder {
    pub id: i64,
    /// e.g. `SO-2026-000042`.
    pub number: String,
    pub status: OrderStatus,
    /// Why it was cancelled or rejected.
    pub status_reason: Option<String>,
    pub order_type: String,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub customer_po: Option<String>,
    pub currency: Currency,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub requested_date: Option<Date>,
    pub ship_to: Option<Address>,
    pub payment_terms_days: Option<i32>,
    pub delivery_terms: Option<String>,
    pub contract_number: Option<String>,
    pub price_list_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub territory_id: Option<i64>,
    /// The quotation this order was converted from.
    pub quotation_id: Option<i64>,
    /// The blanket order this order calls off.
    pub blanket_order_id: Option<i64>,
    pub notes: Option<String>,
    pub coupon_code: Option<String>,
    pub shipping_country: Option<String>,
    /// The warehouse the order is served from, unless a line names its own.
    pub warehouse_id: Option<i64>,
    pub approval: Approval,
    pub totals: DocTotals,
    pub explanation: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<Line>>,
    /// With `?expand=`: the customer, contact, owner and sales person, embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<crate::expand::Expanded>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<OffsetDateTime>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sales_orders, treat_none_as_null = true)]
pub struct OrderRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub order_type: String,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub customer_po: Option<String>,
    pub currency: String,
    pub doc_date: Date,
    pub requested_date: Option<Date>,
    pub payment_terms_days: Option<i32>,
    pub contract_number: Option<String>,
    pub price_list_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub quotation_id: Option<i64>,
    pub blanket_order_id: Option<i64>,
    pub coupon_code: Option<String>,
    pub terms: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub approval: String,
    pub net: i64,
    pub gross: i64,
    pub base_net: i64,
    pub pricing: String,
    pub archived_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub warehouse_id: Option<i64>,
    /// Set (conditionally, by billing) when the order's shipping is on an invoice.
    #[diesel(skip_insertion, skip_update)]
    pub shipping_invoiced: bool,
}

impl OrderRow {
    pub fn status(&self) -> Result<OrderStatus> {
        OrderStatus::parse(&self.status)
            .ok_or_else(|| DomainError::Internal(format!("sales order {}: status {:?}", self.id, self.status)))
    }
    pub fn terms(&self) -> Terms {
        serde_json::from_str(&self.terms).unwrap_or_default()
    }
    pub fn approval(&self) -> Result<Approval> {
        serde_json::from_str(&self.approval)
            .map_err(|_| DomainError::Internal(format!("sales order {}: approval", self.id)))
    }
    pub fn currency(&self) -> Result<Currency> {
        Currency::from_code(&self.currency)
            .ok_or_else(|| DomainError::Internal(format!("sales order {}: currency", self.id)))
    }
    pub fn to_model(&self, lines: Option<&[LineRow]>) -> Result<SalesOrder> {
        let pricing = HeaderPricing::parse(&self.pricing, &self.number)?;
        let t = self.terms();
        Ok(SalesOrder {
            id: self.id,
            number: self.number.clone(),
            status: self.status()?,
            status_reason: self.status_reason.clone(),
            order_type: self.order_type.clone(),
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            customer_po: self.customer_po.clone(),
            currency: self.currency()?,
            date: self.doc_date,
            requested_date: self.requested_date,
            ship_to: t.ship_to,
            payment_terms_days: self.payment_terms_days,
            delivery_terms: t.delivery_terms,
            contract_number: self.contract_number.clone(),
            price_list_id: self.price_list_id,
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            campaign_id: self.campaign_id,
            territory_id: self.territory_id,
            quotation_id: self.quotation_id,
            blanket_order_id: self.blanket_order_id,
            notes: t.notes,
            coupon_code: self.coupon_code.clone(),
            shipping_country: t.shipping_country,
            warehouse_id: self.warehouse_id,
            approval: self.approval()?,
            totals: pricing.totals,
            explanation: pricing.explanation,
            lines: lines.map(|ls| ls.iter().map(LineRow::to_model).collect::<Result<Vec<_>>>()).transpose()?,
            expanded: None,
            archived_at: self.archived_at.map(|t| t.assume_utc()),
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub customer_id: Option<i64>,
    pub status: Option<OrderStatus>,
    pub quotation_id: Option<i64>,
    pub blanket_order_id: Option<i64>,
    pub number: Option<String>,
    pub include_archived: bool,
    pub search: crate::docs::DocSearch,
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<OrderRow> {
    core::find(conn, caller, id)
}

crate::document_table!(sales OrderRow, sales_orders, entity: ENTITY, noun: "sales order", kind: DocKind::SalesOrder,
    model: SalesOrder, status: OrderStatus, {
    fn status(&self) -> Result<OrderStatus> {
        OrderRow::status(self)
    }
    fn model(&self, lines: Option<&[LineRow]>) -> Result<SalesOrder> {
        self.to_model(lines)
    }
});

impl core::Priced for OrderRow {
    type Header = SalesOrderCreate;
    crate::priced_by_header!();
    fn header(&self) -> Result<SalesOrderCreate> {
        let t = self.terms();
        Ok(SalesOrderCreate {
            customer_id: self.customer_id,
            order_type: self.order_type.clone(),
            contact_id: self.contact_id,
            customer_po: self.customer_po.clone(),
            currency: Some(self.currency()?),
            date: Some(self.doc_date),
            requested_date: self.requested_date,
            ship_to: t.ship_to,
            payment_terms_days: self.payment_terms_days,
            delivery_terms: t.delivery_terms,
            contract_number: self.contract_number.clone(),
            price_list_id: self.price_list_id,
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            campaign_id: self.campaign_id,
            territory_id: self.territory_id,
            notes: t.notes,
            coupon_code: self.coupon_code.clone(),
            shipping_country: t.shipping_country,
            warehouse_id: self.warehouse_id,
            lines: vec![],
        })
    }
    fn resolve(
        conn: &mut DbConnection,
        caller: &Caller,
        mut h: SalesOrderCreate,
        current: Option<&Self>,
    ) -> Result<SalesOrderCreate> {
        let customer_changed = current.is_none_or(|c| c.customer_id != h.customer_id);
        let customer =
            if customer_changed { Some(docs::document_customer(conn, caller, h.customer_id)?) } else { None };
        if customer_changed || current.is_some_and(|c| c.contact_id != h.contact_id) {
            docs::check_contact(conn, h.customer_id, h.contact_id)?;
        }
        if let (Some(c), None) = (&customer, current) {
            h.currency = h.currency.or(Some(c.currency));
            h.sales_person_id = h.sales_person_id.or(c.sales_person_id);
            h.sales_partner_id = h.sales_partner_id.or(c.sales_partner_id);
            h.campaign_id = h.campaign_id.or(c.campaign_id);
            h.territory_id = h.territory_id.or(c.territory_id);
            h.payment_terms_days = h.payment_terms_days.or(Some(c.payment_terms_days));
            h.ship_to = h.ship_to.or(c.shipping_address.clone()).or(c.billing_address.clone());
        }
        if h.shipping_country.is_none() && current.is_none() {
            h.shipping_country = h.ship_to.as_ref().map(|a| a.country.clone());
        }
        h.date = Some(h.date.unwrap_or_else(today));
        if let Some(w) = h.warehouse_id.filter(|w| current.is_none_or(|c| c.warehouse_id != Some(*w))) {
            ordo_db::refs::sellable_warehouses(conn, &[("warehouse_id".into(), w)])?;
        }
        let changed =
            |f: fn(&OrderRow) -> Option<i64>, v: Option<i64>| v.filter(|x| current.is_none_or(|c| f(c) != Some(*x)));
        ordo_crm::service::check_team(
            conn,
            &ordo_crm::service::TeamRefs {
                territory_id: changed(|c| c.territory_id, h.territory_id),
                customer_group_id: None,
                sales_person_id: changed(|c| c.sales_person_id, h.sales_person_id),
                sales_partner_id: changed(|c| c.sales_partner_id, h.sales_partner_id),
                campaign_id: changed(|c| c.campaign_id, h.campaign_id),
            },
        )?;
        Ok(h)
    }
    fn apply(&mut self, h: &SalesOrderCreate) {
        let row = self;
        row.customer_id = h.customer_id;
        row.order_type = h.order_type.clone();
        row.contact_id = h.contact_id;
        row.customer_po = h.customer_po.clone();
        row.currency = h.currency.map(|c| c.code().to_string()).unwrap_or_default();
        row.doc_date = h.date.unwrap_or_else(today);
        row.requested_date = h.requested_date;
        row.payment_terms_days = h.payment_terms_days;
        row.contract_number = h.contract_number.clone();
        row.price_list_id = h.price_list_id;
        row.sales_person_id = h.sales_person_id;
        row.sales_partner_id = h.sales_partner_id;
        row.campaign_id = h.campaign_id;
        row.territory_id = h.territory_id;
        row.coupon_code = h.coupon_code.clone();
        row.warehouse_id = h.warehouse_id;
        row.terms = ordo_core::util::json_text(&Terms {
            delivery_terms: h.delivery_terms.clone(),
            notes: h.notes.clone(),
            shipping_country: h.shipping_country.clone(),
            ship_to: h.ship_to.clone(),
        });
    }
    fn check_line_edit(&self, edited: &core::EditedLines) -> Result<()> {
        if self.blanket_order_id.is_some() {
            return Err(DomainError::conflict(
                "call_off_lines",
                "a call-off order's lines follow its blanket order: cancel it and call off again",
            ));
        }
        match &edited.touched {
            Some((new, old)) if new.blanket_line_id != old.as_ref().and_then(|o| o.blanket_line_id) => {
                Err(DomainError::field("blanket_line_id", "use_call_off", "call-off lines come from the blanket order"))
            }
            _ => Ok(()),
        }
    }
    /// Fields that do not affect prices may still be agreed after the draft stage
    /// (until the order is closed): what confirmation needs, and the paperwork.
    fn update_after_draft(
        conn: &mut DbConnection,
        caller: &Caller,
        current: Self,
        p: &MergePatch,
    ) -> Result<SalesOrder> {
        let status = current.status()?;
        let open = matches!(status, OrderStatus::PendingApproval | OrderStatus::Approved | OrderStatus::InExecution);
        if let Some(k) = p.0.keys().find(|k| !TERMS_AFTER_DRAFT.contains(&k.as_str())).filter(|_| open) {
            return Err(DomainError::conflict(
                "not_draft",
                format!(
                    "sales order {} is {}: `{k}` only changes on drafts (terms fields: {})",
                    current.number,
                    status.as_str(),
                    TERMS_AFTER_DRAFT.join(", ")
                ),
            ));
        }
        if !open {
            return Err(DomainError::conflict(
                "order_closed",
                format!("sales order {} is {}", current.number, status.as_str()),
            ));
        }
        let h = patched(&current.header()?, p)?;
        let mut row = current.clone();
        row.apply(&h);
        let diff = audit::diff(&to_json(&current.to_model(None)?), &to_json(&row.to_model(None)?));
        let saved = core::commit(conn, caller, &current, row, "update", &diff)?;
        let ls = lines::load(conn, DocKind::SalesOrder, saved.id)?;
        saved.to_model(Some(&ls))
    }
}

fn blank_row(number: String) -> OrderRow {
    let ts = now();
    OrderRow {
        id: 0,
        number,
        order_type: standard(),
        customer_id: 0,
        contact_id: None,
        customer_po: None,
        currency: String::new(),
        doc_date: ts.date(),
        requested_date: None,
        payment_terms_days: None,
        contract_number: None,
        price_list_id: None,
        sales_person_id: None,
        sales_partner_id: None,
        campaign_id: None,
        territory_id: None,
        quotation_id: None,
        blanket_order_id: None,
        coupon_code: None,
        terms: "{}".into(),
        status: OrderStatus::Draft.as_str().into(),
        status_reason: None,
        approval: ordo_core::util::json_text(&Approval::default()),
        net: 0,
        gross: 0,
        base_net: 0,
        pricing: "{}".into(),
        archived_at: None,
        version: 1,
        created_at: ts,
        updated_at: ts,
        warehouse_id: None,
        shipping_invoiced: false,
    }
}

pub fn create(conn: &mut DbConnection, caller: &Caller, input: SalesOrderCreate, base: Currency) -> Result<SalesOrder> {
    write(caller)?;
    let overrides: Vec<_> = input.lines.iter().enumerate().map(|(n, l)| (n, l, None)).collect();
    lines::check_overrides(caller, &overrides)?;
    if input.lines.iter().any(|l| l.blanket_line_id.is_some()) {
        return crate::blanket::call_off_from_order(conn, caller, &input, base);
    }
    let lines_in = input.lines.clone();
    let h = OrderRow::resolve(conn, caller, input, None)?;
    create_resolved(
        conn,
        caller,
        h,
        lines_in.into_iter().map(|input| PricingLine { input, locked: None }).collect(),
        base,
        None,
        None,
    )
}

/// Writes a new order whose header is resolved: numbered, priced, checklist copied
/// from the template of its type, journal opened.
pub(crate) fn create_resolved(
    conn: &mut DbConnection,
    caller: &Caller,
    h: SalesOrderCreate,
    pricing_lines: Vec<PricingLine>,
    base: Currency,
    quotation_id: Option<i64>,
    blanket_order_id: Option<i64>,
) -> Result<SalesOrder> {
    let mut row = blank_row(String::new());
    row.apply(&h);
    row.quotation_id = quotation_id;
    row.blanket_order_id = blanket_order_id;
    let ph = row.pricing_header()?;
    let priced = lines::price(conn, caller, &ph, &pricing_lines, base, true)?;
    row.set_pricing(&priced.header);
    // Numbered after pricing: the series row stays locked until commit, so taking it
    // last keeps concurrent creates from queueing behind each other's pricing.
    row.number = series::next_number(conn, ENTITY)?;
    let saved = row.insert(conn)?;
    let line_rows = lines::insert_all(conn, DocKind::SalesOrder, saved.id, &priced.lines)?;
    let points = checklist_template_service::for_order_type(conn, &saved.order_type)?;
    if !points.is_empty() {
        #[derive(Insertable)]
        #[diesel(table_name = order_checklist_points, treat_none_as_default_value = false)]
        struct NewPoint {
            sales_order_id: i64,
            position: i32,
            text: String,
            required: bool,
            ticked: bool,
        }
        let rows: Vec<NewPoint> = points
            .into_iter()
            .enumerate()
            .map(|(n, p)| NewPoint {
                sales_order_id: saved.id,
                position: n as i32 + 1,
                text: p.text,
                required: p.required,
                ticked: false,
            })
            .collect();
        ordo_db::insert_batch!(conn, order_checklist_points::table, &rows);
    }
    docs::journal(
        conn,
        caller,
        DocKind::SalesOrder,
        saved.id,
        "draft",
        "event",
        format!("Order {} created.", saved.number),
    )?;
    let v = saved.to_model(Some(&line_rows))?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<SalesOrder>> {
    read(caller)?;
    let build = || {
        let mut q = sales_orders::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(sales_orders::customer_id)))
            .select((OrderRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = crate::scoped!(q, caller, sales_orders::customer_id);
        q = crate::doc_search!(q, &f.search, number: sales_orders::number, customer: sales_orders::customer_id,
            date: sales_orders::doc_date, updated: sales_orders::updated_at, po: sales_orders::customer_po);
        if !f.include_archived {
            q = q.filter(sales_orders::archived_at.is_null());
        }
        if let Some(c) = f.customer_id {
            q = q.filter(sales_orders::customer_id.eq(c));
        }
        if let Some(s) = f.status {
            q = q.filter(sales_orders::status.eq(s.as_str()));
        }
        if let Some(qid) = f.quotation_id {
            q = q.filter(sales_orders::quotation_id.eq(qid));
        }
        if let Some(b) = f.blanket_order_id {
            q = q.filter(sales_orders::blanket_order_id.eq(b));
        }
        if let Some(n) = &f.number {
            q = q.filter(sales_orders::number.eq(n.clone()));
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = crate::doc_page!(conn, build(), page, sales_orders, OrderRow, date: doc_date, total: gross);
    rows.total = total;
    let mut data: Vec<_> = rows.data.iter().map(|r| r.0.to_model(None)).collect::<Result<_>>()?;
    crate::expand::apply(conn, &mut data, &f.search.expand)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<SalesOrder> {
    core::get::<OrderRow>(conn, caller, id)
}

/// Locks the order's row for the rest of the transaction (PostgreSQL), so what this
/// use case reads next is what it changes: a concurrent change of the same order waits
/// and then sees this one's result (a decided stage is a 409, not a lost update).
pub fn lock(conn: &mut DbConnection, id: i64) -> Result<()> {
    ordo_db::lock::rows(conn, "sales_orders", &[id])
}

fn for_write(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<OrderRow> {
    core::for_write(conn, caller, id, if_match)
}

fn editable(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<OrderRow> {
    core::editable(conn, caller, id, if_match)
}

/// Header fields that do not affect prices and may still be agreed after the draft
/// stage (until the order is closed): what confirmation needs, and the paperwork.
const TERMS_AFTER_DRAFT: [&str; 5] =
    ["contract_number", "payment_terms_days", "customer_po", "delivery_terms", "notes"];

/// One line of this order (404 otherwise).
fn order_line(conn: &mut DbConnection, id: i64, line_id: i64) -> Result<LineRow> {
    document_lines::table
        .filter(document_lines::id.eq(line_id))
        .filter(document_lines::doc_kind.eq(DocKind::SalesOrder.as_str()))
        .filter(document_lines::doc_id.eq(id))
        .select(LineRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("line", line_id))
}

/// Writes one line if it is still at version `expected` (412 otherwise).
fn save_line(conn: &mut DbConnection, next: &LineRow, expected: i64) -> Result<LineRow> {
    diesel::update(
        document_lines::table.filter(document_lines::id.eq(next.id)).filter(document_lines::version.eq(expected)),
    )
    .set(next)
    .returning(document_lines::all_columns)
    .get_result(conn)
    .optional()?
    .ok_or_else(|| DomainError::stale_version(expected))
}

/// `PATCH /sales-orders/{id}/lines/{line_id}/production`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductionUpdate {
    pub production_state: Option<ProductionState>,
    /// The line's actual cost in the document currency.
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub actual_cost: Option<ordo_core::Money>,
}

/// A planning system reports production progress and actual cost on a line of an
/// approved or executing order. Touches that one line.
pub fn update_production(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    line_id: i64,
    if_match: Option<i64>,
    p: ProductionUpdate,
) -> Result<Line> {
    let order = find(conn, caller, id)?;
    caller.require(Permission::ProductionUpdate)?;
    core::writable(&order)?;
    let s = order.status()?;
    if !matches!(
        s,
        OrderStatus::Draft | OrderStatus::PendingApproval | OrderStatus::Approved | OrderStatus::InExecution
    ) {
        return Err(DomainError::conflict("order_closed", format!("sales order {} is {}", order.number, s.as_str())));
    }
    let line = order_line(conn, id, line_id)?;
    check_version(if_match, line.version)?;
    let mut next = line.clone();
    if let Some(ps) = p.production_state {
        next.production_state = Some(ps.as_str().into());
    }
    if let Some(c) = p.actual_cost {
        next.actual_cost = Some(c.to_scaled());
    }
    next.version += 1;
    let saved = save_line(conn, &next, line.version)?;
    let (before, after) = (line.to_model()?, saved.to_model()?);
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "production",
        &serde_json::json!({"line_id": line_id, "changes": audit::diff(&to_json(&before), &to_json(&after))}),
    )?;
    Ok(after)
}

/// `POST /sales-orders/{id}/lines/{line_id}/reduce`: the customer takes less of a line
/// of an approved or executing order.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineReduction {
    /// The new quantity in the line's unit: less than now; 0 drops what is not delivered.
    #[validate(custom(function = "ordo_core::validate::non_negative_qty"))]
    pub quantity: ordo_core::Quantity,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// Lowers a line's quantity after approval without re-running the price engine: the
/// agreed unit price stands, the line's discount, net and tax shrink in proportion and
/// the document totals move by exactly the line's difference (shipping as agreed).
/// Answers the saved line, for fulfillment to release stock against.
pub fn reduce_line(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    line_id: i64,
    if_match: Option<i64>,
    r: LineReduction,
) -> Result<LineRow> {
    let current = for_write(conn, caller, id, if_match)?;
    let s = current.status()?;
    if !matches!(s, OrderStatus::Approved | OrderStatus::InExecution) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!(
                "sales order {} is {}: lines are reduced on approved orders and orders in execution (drafts are edited)",
                current.number,
                s.as_str()
            ),
        ));
    }
    if current.blanket_order_id.is_some() {
        return Err(DomainError::conflict(
            "call_off_lines",
            "a call-off order's lines follow its blanket order: cancel it and call off again",
        ));
    }
    let line = order_line(conn, id, line_id)?;
    let (old_q, new_q) = (line.quantity, r.quantity.to_scaled());
    if new_q >= old_q {
        return Err(DomainError::field(
            "quantity",
            "not_a_reduction",
            format!("must be less than the line's {}", ordo_core::Quantity::from_scaled(old_q)),
        ));
    }
    let dp = u32::from(current.currency()?.minor_units());
    let share = Decimal::from(new_q) / Decimal::from(old_q);
    let scale =
        |v: i64| Ok::<_, DomainError>(lines::money(round_to(Money::from_scaled(v).value() * share, dp))?.to_scaled());
    let mut next = line.clone();
    next.quantity = new_q;
    // Base units per line unit is fixed for the line, so the base quantity scales exactly.
    next.base_quantity = (Decimal::from(line.base_quantity) * share)
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .try_into()
        .map_err(|_| DomainError::Internal("base quantity out of range".into()))?;
    next.discount = scale(line.discount)?;
    next.net = scale(line.net)?;
    let pct = ordo_core::Rate::from_scaled(line.tax_percent).value();
    next.tax = lines::money(round_to(Money::from_scaled(next.net).value() * pct / Decimal::from(100), dp))?.to_scaled();
    next.gross = next.net + next.tax;
    next.version += 1;
    let saved_line = save_line(conn, &next, line.version)?;
    // The totals move by the line's difference; the per-rate bucket with it.
    let mut pricing = HeaderPricing::parse(&current.pricing, &current.number)?;
    let (dn, dt, dd) = (next.net - line.net, next.tax - line.tax, next.discount - line.discount);
    let t = &mut pricing.totals;
    let add = |m: Money, d: i64| Money::from_scaled(m.to_scaled() + d);
    t.net = add(t.net, dn);
    t.tax = add(t.tax, dt);
    t.discount = add(t.discount, dd);
    t.gross = add(t.gross, dn + dt);
    if let Some(b) =
        t.taxes.iter_mut().find(|b| b.tax_rate_id == line.tax_rate_id && b.percent.to_scaled() == line.tax_percent)
    {
        b.net = add(b.net, dn);
        b.tax = add(b.tax, dt);
    }
    let bdp = u32::from(t.base_currency.minor_units());
    let to_base = |m: Money| lines::money(round_to(m.value() * t.base_rate.value(), bdp));
    (t.base_net, t.base_gross) = (to_base(t.net)?, to_base(t.gross)?);
    let text = format!(
        "Line {} reduced from {} to {} {}: {}",
        line.position,
        ordo_core::Quantity::from_scaled(old_q),
        r.quantity,
        line.unit,
        r.reason
    );
    pricing.explanation.push(format!("{text}."));
    let mut row = current.clone();
    row.set_pricing(&pricing);
    row.version = current.version + 1;
    row.updated_at = now();
    let saved = row.save(conn, current.version)?;
    docs::journal(conn, caller, DocKind::SalesOrder, id, s.as_str(), "event", format!("{text}."))?;
    if s == OrderStatus::InExecution {
        // A confirmed order's facts follow its lines.
        crate::facts::remove(conn, crate::facts::ORDER, id)?;
        let ls = lines::load(conn, DocKind::SalesOrder, id)?;
        crate::facts::record(conn, &order_facts(&saved), &ls)?;
    }
    let (before, after) = (line.to_model()?, saved_line.to_model()?);
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "reduce_line",
        &serde_json::json!({
            "line_id": line_id,
            "reason": r.reason,
            "changes": audit::diff(&to_json(&before), &to_json(&after)),
            "totals": {"net": saved.net, "gross": saved.gross},
        }),
    )?;
    Ok(saved_line)
}

// ---- lifecycle --------------------------------------------------------------------

fn stage_label(row: &OrderRow, approval: &Approval) -> String {
    match row.status.as_str() {
        "pending_approval" => match approval.stages.iter().find(|s| s.status == "pending") {
            Some(s) => format!("pending_approval: {}", s.name),
            None => "pending_approval".into(),
        },
        other => other.to_string(),
    }
}

/// Saves a state change with its journal event and audit entry.
fn commit_state(
    conn: &mut DbConnection,
    caller: &Caller,
    current: &OrderRow,
    mut row: OrderRow,
    approval: &Approval,
    stage: String,
    event: String,
) -> Result<SalesOrder> {
    row.approval = ordo_core::util::json_text(approval);
    let details =
        serde_json::json!({"status": {"from": current.status, "to": row.status}, "reason": row.status_reason});
    let saved = core::commit(conn, caller, current, row, "status", &details)?;
    docs::journal(conn, caller, DocKind::SalesOrder, saved.id, &stage, "event", event)?;
    saved.to_model(None)
}

/// Counts the coupon's redemption atomically: `uses < max_uses` in the UPDATE itself,
/// so concurrent submits cannot exceed the limit.
fn redeem_coupon(conn: &mut DbConnection, order: &OrderRow, code: &str) -> Result<()> {
    let upper = code.to_ascii_uppercase();
    let refuse = |why: &'static str, msg: String| DomainError::Rule {
        code: "coupon_invalid",
        detail: msg.clone(),
        errors: vec![FieldError::new("coupon_code", why, msg)],
    };
    let (cid, per_customer): (i64, Option<i64>) = coupons::table
        .filter(coupons::code.eq(&upper))
        .select((coupons::id, coupons::max_uses_per_customer))
        .first(conn)
        .optional()?
        .ok_or_else(|| refuse("unknown", format!("no coupon {upper}")))?;
    let n = diesel::update(
        coupons::table
            .filter(coupons::id.eq(cid))
            .filter(coupons::max_uses.is_null().or(coupons::uses.lt(coupons::max_uses.assume_not_null()))),
    )
    .set(coupons::uses.eq(coupons::uses + 1))
    .execute(conn)?;
    if n == 0 {
        return Err(refuse("exhausted", format!("coupon {upper} has no uses left")));
    }
    if let Some(limit) = per_customer {
        let used: i64 = coupon_redemptions::table
            .filter(coupon_redemptions::coupon_id.eq(cid))
            .filter(coupon_redemptions::customer_id.eq(order.customer_id))
            .count()
            .get_result(conn)?;
        if used >= limit {
            return Err(refuse("exhausted_for_customer", format!("coupon {upper} is used up for this customer")));
        }
    }
    diesel::insert_into(coupon_redemptions::table)
        .values((
            coupon_redemptions::coupon_id.eq(cid),
            coupon_redemptions::customer_id.eq(order.customer_id),
            coupon_redemptions::document.eq(format!("sales_order:{}", order.id)),
            coupon_redemptions::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a cancelled order gives back: its coupon redemption and what it called off.
fn release_all(conn: &mut DbConnection, order: &OrderRow, approval: &mut Approval) -> Result<()> {
    if approval.coupon_redeemed {
        release_coupon(conn, order)?;
        approval.coupon_redeemed = false;
    }
    if let Some(b) = order.blanket_order_id {
        crate::blanket::release(conn, order.id, b)?;
    }
    Ok(())
}

fn release_coupon(conn: &mut DbConnection, order: &OrderRow) -> Result<()> {
    let doc = format!("sales_order:{}", order.id);
    let held: Vec<(i64, i64)> = coupon_redemptions::table
        .filter(coupon_redemptions::document.eq(&doc))
        .select((coupon_redemptions::id, coupon_redemptions::coupon_id))
        .load(conn)?;
    for (rid, cid) in held {
        diesel::delete(coupon_redemptions::table.find(rid)).execute(conn)?;
        diesel::update(coupons::table.find(cid).filter(coupons::uses.gt(0)))
            .set(coupons::uses.eq(coupons::uses - 1))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether a stage's condition holds for this order.
fn applies(conn: &mut DbConnection, order: &OrderRow, cond: &Option<StageCondition>) -> Result<bool> {
    let pricing = HeaderPricing::parse(&order.pricing, &order.number)?;
    Ok(match cond {
        None => true,
        Some(StageCondition::TotalAtLeast { amount }) => pricing.totals.base_gross.value() >= amount.value(),
        Some(StageCondition::DiscountAbove { percent }) => {
            let t = &pricing.totals;
            let undiscounted = t.net.value() - t.shipping.value() + t.discount.value();
            undiscounted > Decimal::ZERO && t.discount.value() * Decimal::from(100) / undiscounted > percent.value()
        }
        Some(StageCondition::CustomerBlocked) => {
            let status: String = customers::table.find(order.customer_id).select(customers::status).first(conn)?;
            status == CustomerStatus::Blocked.as_str()
        }
        Some(StageCondition::CustomerNew) => {
            let earlier: i64 = sales_orders::table
                .filter(sales_orders::customer_id.eq(order.customer_id))
                .filter(sales_orders::id.ne(order.id))
                // Archived completed orders count (delivered: no reason; closed short:
                // the reason after CLOSED_SHORT); archived cancelled ones carry a reason.
                .filter(
                    sales_orders::status.eq_any(["approved", "in_execution", "completed"]).or(sales_orders::status
                        .eq("archived")
                        .and(
                            sales_orders::status_reason
                                .is_null()
                                .or(sales_orders::status_reason.like(format!("{CLOSED_SHORT}%"))),
                        )),
                )
                .count()
                .get_result(conn)?;
            earlier == 0
        }
    })
}

pub fn submit(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<SalesOrder> {
    let current = editable(conn, caller, id, if_match)?;
    let customer = order_customer(conn, &current, OrderCount::Lines)?;
    if customer.count == 0 {
        return Err(DomainError::rule("no_lines", "an order without lines cannot be submitted"));
    }
    let mut approval = current.approval()?;
    if approval.credit_override.is_none() {
        let p = HeaderPricing::parse(&current.pricing, &current.number)?;
        crate::credit::check(
            conn,
            (current.customer_id, Some(customer.credit)),
            p.totals.base_gross,
            p.totals.base_currency,
            &format!("order {}", current.number),
        )?;
    }
    if let Some(code) = &current.coupon_code {
        redeem_coupon(conn, &current, code)?;
        approval.coupon_redeemed = true;
    }
    let route = approval_route_service::for_order_type(conn, &current.order_type)?;
    let mut stages = vec![];
    if let Some(r) = &route {
        for s in &r.data.stages {
            if applies(conn, &current, &s.condition)? {
                stages.push(StageState {
                    name: s.name.clone(),
                    role: s.role,
                    condition: s.condition.clone(),
                    status: "pending".into(),
                    decided_by: None,
                    decided_by_name: None,
                    decided_at: None,
                    comment: None,
                });
            }
        }
    }
    let ts = now().assume_utc();
    approval.route_id = route.as_ref().map(|r| r.id);
    approval.submitted_at = Some(ts);
    let mut row = current.clone();
    let event = if stages.is_empty() {
        row.status = OrderStatus::Approved.as_str().into();
        approval.approved_at = Some(ts);
        "Submitted; no approval stage applies, so it is approved.".to_string()
    } else {
        row.status = OrderStatus::PendingApproval.as_str().into();
        format!(
            "Submitted for approval: {}.",
            stages.iter().map(|s| format!("{} ({})", s.name, s.role)).collect::<Vec<_>>().join(", ")
        )
    };
    approval.stages = stages;
    commit_state(conn, caller, &current, row, &approval, "draft".into(), event)
}

/// `POST /sales-orders/{id}/approve`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// The stage you mean to pass; if it is no longer the open one the request is a
    /// 409 (someone decided it first). Default: the open stage.
    #[validate(length(min = 1, max = 100))]
    pub stage: Option<String>,
    #[validate(length(min = 1, max = 1000))]
    pub comment: Option<String>,
}

/// `POST /sales-orders/{id}/reject`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
    #[validate(length(min = 1, max = 100))]
    pub stage: Option<String>,
}

/// The open stage the caller may decide, or why not.
fn open_stage(current: &OrderRow, approval: &Approval, caller: &Caller, named: Option<&str>) -> Result<usize> {
    if current.status()? != OrderStatus::PendingApproval {
        return Err(DomainError::conflict(
            "not_pending_approval",
            format!("sales order {} is {}: nothing to approve", current.number, current.status),
        ));
    }
    let n =
        approval.stages.iter().position(|s| s.status == "pending").ok_or_else(|| {
            DomainError::Internal(format!("sales order {}: pending without an open stage", current.id))
        })?;
    if let Some(name) = named {
        if approval.stages[n].name != name {
            return Err(DomainError::conflict(
                "stage_decided",
                format!("stage {name:?} is not the open stage (that is {:?})", approval.stages[n].name),
            ));
        }
    }
    let role = approval.stages[n].role;
    if !caller.principal.has_role(role) && !caller.principal.has_role(Role::Admin) {
        return Err(DomainError::forbidden(format!("stage {:?} needs the role {role}", approval.stages[n].name)));
    }
    Ok(n)
}

/// An order an approver may decide on: visible and current. The stage's role is the
/// permission (an accountant approving a credit stage need not edit orders).
fn for_decision(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<OrderRow> {
    let row: OrderRow = core::find_locked(conn, caller, id)?;
    check_version(if_match, row.version)?;
    core::writable(&row)?;
    Ok(row)
}

pub fn approve(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    d: ApprovalDecision,
) -> Result<SalesOrder> {
    let current = for_decision(conn, caller, id, if_match)?;
    let mut approval = current.approval()?;
    let n = open_stage(&current, &approval, caller, d.stage.as_deref())?;
    let stage = stage_label(&current, &approval);
    let ts = now().assume_utc();
    let s = &mut approval.stages[n];
    s.status = "approved".into();
    s.decided_by = Some(caller.principal.actor_key());
    s.decided_by_name = Some(caller.principal.name.clone());
    s.decided_at = Some(ts);
    s.comment = d.comment.clone();
    let mut event = format!(
        "Stage {:?} approved by {}{}.",
        s.name,
        caller.principal.name,
        d.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
    );
    let mut row = current.clone();
    if approval.stages.iter().all(|s| s.status == "approved") {
        row.status = OrderStatus::Approved.as_str().into();
        approval.approved_at = Some(ts);
        event.push_str(" The order is approved.");
    }
    commit_state(conn, caller, &current, row, &approval, stage, event)
}

pub fn reject(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    r: Rejection,
) -> Result<SalesOrder> {
    let current = for_decision(conn, caller, id, if_match)?;
    let mut approval = current.approval()?;
    let n = open_stage(&current, &approval, caller, r.stage.as_deref())?;
    let stage = stage_label(&current, &approval);
    let ts = now().assume_utc();
    let s = &mut approval.stages[n];
    s.status = "rejected".into();
    s.decided_by = Some(caller.principal.actor_key());
    s.decided_by_name = Some(caller.principal.name.clone());
    s.decided_at = Some(ts);
    s.comment = Some(r.reason.clone());
    let name = s.name.clone();
    release_all(conn, &current, &mut approval)?;
    approval.closed_at = Some(ts);
    let mut row = current.clone();
    row.status = OrderStatus::Cancelled.as_str().into();
    row.status_reason = Some(format!("rejected at {name}: {}", r.reason));
    let event = format!("Stage {name:?} rejected by {}: {}. The order is cancelled.", caller.principal.name, r.reason);
    commit_state(conn, caller, &current, row, &approval, stage, event)
}

/// The quality checklist points still open that block confirmation.
fn open_required_points(conn: &mut DbConnection, id: i64) -> Result<Vec<(i64, String)>> {
    Ok(order_checklist_points::table
        .filter(order_checklist_points::sales_order_id.eq(id))
        .filter(order_checklist_points::required.eq(true))
        .filter(order_checklist_points::ticked.eq(false))
        .order(order_checklist_points::position.asc())
        .select((order_checklist_points::id, order_checklist_points::text))
        .load(conn)?)
}

/// Everything that keeps an approved order from confirmation, all at once: a missing
/// contract number or payment terms, and every required checklist point not ticked
/// (`checklist[<point id>]`).
pub fn confirmation_blockers(conn: &mut DbConnection, order: &OrderRow) -> Result<Vec<FieldError>> {
    confirmation_blockers_counted(conn, order, None)
}

/// [`confirmation_blockers`], with the number of open required points when the caller
/// counted them already (the points are read only when there are some).
fn confirmation_blockers_counted(
    conn: &mut DbConnection,
    order: &OrderRow,
    open_points: Option<i64>,
) -> Result<Vec<FieldError>> {
    let mut errs = vec![];
    if order.contract_number.is_none() {
        errs.push(FieldError::new("contract_number", "required", "a contract number is needed to confirm"));
    }
    if order.payment_terms_days.is_none() {
        errs.push(FieldError::new("payment_terms_days", "required", "payment terms are needed to confirm"));
    }
    if open_points != Some(0) {
        for (pid, text) in open_required_points(conn, order.id)? {
            errs.push(FieldError::new(format!("checklist[{pid}]"), "not_ticked", text));
        }
    }
    Ok(errs)
}

/// What a count in [`order_customer`] counts.
enum OrderCount {
    Lines,
    OpenRequiredPoints,
}

/// What submit and confirm read of an order's customer, with one count about the order,
/// in one statement.
#[derive(Queryable)]
struct OrderCustomer {
    status: String,
    group: Option<i64>,
    default_warehouse_id: Option<i64>,
    credit: crate::credit::CreditHead,
    count: i64,
}

/// The columns of [`OrderCustomer`], counting `what` of the order.
#[allow(clippy::type_complexity)]
fn order_customer_columns(
    order_id: i64,
    what: OrderCount,
) -> (
    customers::status,
    customers::customer_group_id,
    customers::default_warehouse_id,
    diesel::dsl::AsSelect<crate::credit::CreditHead, ordo_db::DbBackend>,
    OrderCountSql,
) {
    (
        customers::status,
        customers::customer_group_id,
        customers::default_warehouse_id,
        crate::credit::CreditHead::as_select(),
        order_count(order_id, what),
    )
}

/// An item of an order line as confirming needs it: id, group, standard cost, kind.
type LineItem = (i64, Option<i64>, i64, String);

/// Everything confirm reads besides the order, in one statement: the lines with their
/// items (the items' groups and costs for the facts, their kinds for reserving stock)
/// and, on every row, the customer with the number of open required checklist points.
fn confirm_reads(conn: &mut DbConnection, order: &OrderRow) -> Result<(Vec<LineRow>, Vec<LineItem>, OrderCustomer)> {
    // Its count subquery is fixed text: preparable.
    let rows: Vec<(LineRow, LineItem, OrderCustomer)> = ordo_db::Prepared(
        document_lines::table
            .inner_join(items::table.on(items::id.eq(document_lines::item_id)))
            .inner_join(customers::table.on(customers::id.eq(order.customer_id)))
            .filter(document_lines::doc_kind.eq(DocKind::SalesOrder.as_str()))
            .filter(document_lines::doc_id.eq(order.id))
            .order(document_lines::position.asc())
            .select((
                LineRow::as_select(),
                (items::id, items::item_group_id, items::standard_cost, items::kind),
                order_customer_columns(order.id, OrderCount::OpenRequiredPoints),
            )),
    )
    .load(conn)?;
    let mut customer = None;
    let (ls, mut items): (Vec<LineRow>, Vec<LineItem>) = rows
        .into_iter()
        .map(|(l, i, c)| {
            customer.get_or_insert(c);
            (l, i)
        })
        .unzip();
    let customer = match customer {
        Some(c) => c,
        // An order without lines (never submitted that way, but the rule is the
        // customer's, not the lines').
        None => order_customer(conn, order, OrderCount::OpenRequiredPoints)?,
    };
    items.sort_unstable_by_key(|i| i.0);
    items.dedup_by_key(|i| i.0);
    Ok((ls, items, customer))
}

type OrderCountSql = diesel::expression::SqlLiteral<
    diesel::sql_types::BigInt,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<diesel::sql_types::BigInt>,
        diesel::dsl::AsExprOf<i64, diesel::sql_types::BigInt>,
    >,
>;

fn order_count(order_id: i64, what: OrderCount) -> OrderCountSql {
    use diesel::sql_types::BigInt;
    match what {
        OrderCount::Lines => diesel::dsl::sql::<BigInt>(
            "(SELECT COUNT(*) FROM document_lines WHERE doc_kind = 'sales_order' AND doc_id = ",
        ),
        OrderCount::OpenRequiredPoints => diesel::dsl::sql::<BigInt>(
            "(SELECT COUNT(*) FROM order_checklist_points WHERE required AND NOT ticked AND sales_order_id = ",
        ),
    }
    .bind::<BigInt, _>(order_id)
    .sql(")")
}

fn order_customer(conn: &mut DbConnection, order: &OrderRow, what: OrderCount) -> Result<OrderCustomer> {
    // Its count subquery is fixed text (one of two): preparable.
    Ok(ordo_db::Prepared(customers::table.find(order.customer_id).select(order_customer_columns(order.id, what)))
        .get_result(conn)?)
}

/// Approved → in execution: contract number, payment terms and every required
/// checklist point are needed (422 naming what is missing). Fulfillment reserves stock
/// in the same transaction when it takes over this step.
pub fn confirm(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<SalesOrder> {
    confirm_with_lines(conn, caller, id, if_match).map(|c| c.order)
}

/// What confirming read that the next step (reserving stock) needs too.
pub struct Confirmed {
    pub order: SalesOrder,
    pub lines: Vec<crate::lines::LineRow>,
    /// The customer's default warehouse.
    pub default_warehouse_id: Option<i64>,
    /// The lines' items that are kept in stock.
    pub stock_items: Vec<i64>,
}

/// `confirm`, answering the order's lines and the customer's default warehouse so the
/// caller does not read them again.
pub fn confirm_with_lines(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
) -> Result<Confirmed> {
    let current = for_write(conn, caller, id, if_match)?;
    if current.status()? != OrderStatus::Approved {
        return Err(DomainError::conflict(
            "not_approved",
            format!("sales order {} is {}: only approved orders are confirmed", current.number, current.status),
        ));
    }
    let (ls, item_rows, customer) = confirm_reads(conn, &current)?;
    let OrderCustomer { status, group, default_warehouse_id, credit, count } = customer;
    let errs = confirmation_blockers_counted(conn, &current, Some(count))?;
    if !errs.is_empty() {
        return Err(DomainError::Rule {
            code: "confirmation_incomplete",
            detail: format!("{} thing(s) block confirmation; see `errors`", errs.len()),
            errors: errs,
        });
    }
    if status == CustomerStatus::Blocked.as_str() {
        return Err(DomainError::Rule {
            code: "customer_blocked",
            detail: format!("the customer of order {} is blocked: no orders are confirmed", current.number),
            errors: vec![FieldError::new("customer_id", "blocked", "the customer is blocked")],
        });
    }
    let mut approval = current.approval()?;
    credit_gate(conn, &current, &approval, "confirming", Some(credit))?;
    approval.confirmed_at = Some(now().assume_utc());
    let mut row = current.clone();
    row.status = OrderStatus::InExecution.as_str().into();
    let v = commit_state(conn, caller, &current, row, &approval, "approved".into(), "Confirmed: in execution.".into())?;
    let stock_items = item_rows.iter().filter(|i| i.3 == "stock").map(|i| i.0).collect();
    let facts = crate::facts::Header {
        customer_group: Some(group),
        items: Some(item_rows.into_iter().map(|(i, g, c, _)| (i, g, c)).collect()),
        ..order_facts(&current)
    };
    crate::facts::record(conn, &facts, &ls)?;
    ordo_db::events::emit(conn, caller, "sales_order.confirmed", ("sales_order", id), Some(v.customer_id), &v)?;
    Ok(Confirmed { order: v, lines: ls, default_warehouse_id, stock_items })
}

/// An order's header as its sales facts carry it: dated on the order date.
pub(crate) fn order_facts(o: &OrderRow) -> crate::facts::Header {
    crate::facts::Header {
        basis: crate::facts::ORDER,
        doc_id: o.id,
        date: o.doc_date,
        customer_id: o.customer_id,
        territory_id: o.territory_id,
        sales_person_id: o.sales_person_id,
        sales_partner_id: o.sales_partner_id,
        campaign_id: o.campaign_id,
        net: o.net,
        base_net: o.base_net,
        sign: 1,
        customer_group: None,
        items: None,
    }
}

/// Credit control for a step of an order already counted in the exposure (confirm,
/// delivery): refused over a limit unless a sales manager let the order through.
pub fn credit_gate(
    conn: &mut DbConnection,
    order: &OrderRow,
    approval: &Approval,
    step: &str,
    head: Option<crate::credit::CreditHead>,
) -> Result<()> {
    if approval.credit_override.is_some() {
        return Ok(());
    }
    let p = HeaderPricing::parse(&order.pricing, &order.number)?;
    crate::credit::check(
        conn,
        (order.customer_id, head),
        Money::ZERO,
        p.totals.base_currency,
        &format!("{step} order {}", order.number),
    )
}

/// `POST /sales-orders/{id}/credit-override`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditOverrideRequest {
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// A sales manager lets an open order through credit and obligo control (submit,
/// confirm and its deliveries), with a reason for the journal and the audit trail.
pub fn credit_override(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    input: CreditOverrideRequest,
) -> Result<SalesOrder> {
    let current = for_write(conn, caller, id, if_match)?;
    caller.require(Permission::CreditOverride)?;
    if matches!(current.status()?, OrderStatus::Cancelled | OrderStatus::Completed | OrderStatus::Archived) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!("sales order {} is {}: nothing to let through", current.number, current.status),
        ));
    }
    let mut approval = current.approval()?;
    let o = CreditOverride {
        by: caller.principal.actor_key(),
        by_name: caller.principal.name.clone(),
        at: now().assume_utc(),
        reason: input.reason.clone(),
    };
    approval.credit_override = Some(o.clone());
    let mut row = current.clone();
    row.approval = ordo_core::util::json_text(&approval);
    row.version = current.version + 1;
    row.updated_at = now();
    let saved = row.save(conn, current.version)?;
    docs::journal(
        conn,
        caller,
        DocKind::SalesOrder,
        id,
        &current.status,
        "event",
        format!("Credit control overridden by {}: {}", caller.principal.name, input.reason),
    )?;
    audit::record(conn, caller, ENTITY, id, "credit_override", &to_json(&o))?;
    let ls = lines::load(conn, DocKind::SalesOrder, id)?;
    saved.to_model(Some(&ls))
}

pub fn cancel(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<SalesOrder> {
    let current = for_write(conn, caller, id, if_match)?;
    let s = current.status()?;
    if !matches!(
        s,
        OrderStatus::Draft | OrderStatus::PendingApproval | OrderStatus::Approved | OrderStatus::InExecution
    ) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!("sales order {} is {} and cannot be cancelled", current.number, s.as_str()),
        ));
    }
    let mut approval = current.approval()?;
    release_all(conn, &current, &mut approval)?;
    approval.closed_at = Some(now().assume_utc());
    let stage = stage_label(&current, &approval);
    let mut row = current.clone();
    row.status = OrderStatus::Cancelled.as_str().into();
    row.status_reason = Some(reason.clone());
    let v = commit_state(conn, caller, &current, row, &approval, stage, format!("Cancelled: {reason}"))?;
    if s == OrderStatus::InExecution {
        crate::facts::remove(conn, crate::facts::ORDER, id)?;
    }
    ordo_db::events::emit(conn, caller, "sales_order.cancelled", ("sales_order", id), Some(v.customer_id), &v)?;
    Ok(v)
}

/// How a completed order's `status_reason` starts when it was closed short.
pub const CLOSED_SHORT: &str = "closed short: ";

/// In execution → completed without delivering the rest: the customer takes what was
/// delivered and no more. Fulfillment releases what the order still holds and cancels
/// its open deliveries in the same transaction.
pub fn close(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<SalesOrder> {
    let current = for_write(conn, caller, id, if_match)?;
    if current.status()? != OrderStatus::InExecution {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!("sales order {} is {}: only orders in execution are closed", current.number, current.status),
        ));
    }
    let mut approval = current.approval()?;
    approval.closed_at = Some(now().assume_utc());
    let mut row = current.clone();
    row.status = OrderStatus::Completed.as_str().into();
    row.status_reason = Some(format!("{CLOSED_SHORT}{reason}"));
    commit_state(conn, caller, &current, row, &approval, "in_execution".into(), format!("Closed short: {reason}"))
}

/// Completion by fulfillment when every stock line is delivered: the shipper's role
/// need not allow editing orders.
pub fn mark_delivered(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<SalesOrder> {
    let current = find(conn, caller, id)?;
    if current.status()? != OrderStatus::InExecution {
        return current.to_model(None);
    }
    let mut approval = current.approval()?;
    approval.closed_at = Some(now().assume_utc());
    let mut row = current.clone();
    row.status = OrderStatus::Completed.as_str().into();
    commit_state(
        conn,
        caller,
        &current,
        row,
        &approval,
        "in_execution".into(),
        "Everything delivered: completed.".into(),
    )
}

/// Cancelled or completed → archived: read-only, out of default lists.
pub fn archive(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<SalesOrder> {
    let current = for_write(conn, caller, id, if_match)?;
    let s = current.status()?;
    if !matches!(s, OrderStatus::Cancelled | OrderStatus::Completed) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!(
                "sales order {} is {}: only cancelled or completed orders are archived",
                current.number,
                s.as_str()
            ),
        ));
    }
    let approval = current.approval()?;
    let mut row = current.clone();
    row.status = OrderStatus::Archived.as_str().into();
    row.archived_at = Some(now());
    commit_state(conn, caller, &current, row, &approval, s.as_str().into(), "Archived.".into())
}

pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<SalesOrder>> {
    let current = editable(conn, caller, id, if_match)?;
    if current.quotation_id.is_some() || current.blanket_order_id.is_some() {
        return Err(DomainError::conflict(
            "linked",
            "an order made from a quotation or blanket order is cancelled, not deleted",
        ));
    }
    diesel::delete(order_checklist_points::table.filter(order_checklist_points::sales_order_id.eq(id)))
        .execute(conn)?;
    core::remove(conn, caller, &current, &[])?;
    Ok(Removal::Deleted)
}

// ---- journal and checklist ----------------------------------------------------------

pub fn journal(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<JournalStage>> {
    read(caller)?;
    find(conn, caller, id)?;
    docs::journal_of(conn, DocKind::SalesOrder, id)
}

/// `POST /sales-orders/{id}/comments`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    #[validate(length(min = 1, max = 4000))]
    #[schema(min_length = 1, max_length = 4000)]
    pub text: String,
}

pub fn comment(conn: &mut DbConnection, caller: &Caller, id: i64, c: Comment) -> Result<Vec<JournalStage>> {
    let current = find(conn, caller, id)?;
    write(caller)?;
    let approval = current.approval()?;
    docs::journal(conn, caller, DocKind::SalesOrder, id, &stage_label(&current, &approval), "comment", c.text)?;
    docs::journal_of(conn, DocKind::SalesOrder, id)
}

/// One point of an order's quality checklist.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderChecklistPoint {
    pub id: i64,
    pub position: i32,
    pub text: String,
    pub required: bool,
    pub ticked: bool,
    pub ticked_by: Option<String>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ticked_at: Option<OffsetDateTime>,
    pub comment: Option<String>,
}

type PointRow = (i64, i32, String, bool, bool, Option<String>, Option<PrimitiveDateTime>, Option<String>);

fn points(conn: &mut DbConnection, id: i64) -> Result<Vec<OrderChecklistPoint>> {
    let rows: Vec<PointRow> = order_checklist_points::table
        .filter(order_checklist_points::sales_order_id.eq(id))
        .order(order_checklist_points::position.asc())
        .select((
            order_checklist_points::id,
            order_checklist_points::position,
            order_checklist_points::text,
            order_checklist_points::required,
            order_checklist_points::ticked,
            order_checklist_points::ticked_by,
            order_checklist_points::ticked_at,
            order_checklist_points::comment,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, position, text, required, ticked, ticked_by, ticked_at, comment)| OrderChecklistPoint {
            id,
            position,
            text,
            required,
            ticked,
            ticked_by,
            ticked_at: ticked_at.map(|t| t.assume_utc()),
            comment,
        })
        .collect())
}

pub fn checklist(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Vec<OrderChecklistPoint>> {
    read(caller)?;
    find(conn, caller, id)?;
    points(conn, id)
}

/// `POST /sales-orders/{id}/checklist/{point_id}/tick`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    /// `true` ticks the point, `false` clears it.
    pub ticked: bool,
    #[validate(length(min = 1, max = 1000))]
    pub comment: Option<String>,
}

pub fn tick(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    point_id: i64,
    t: Tick,
) -> Result<Vec<OrderChecklistPoint>> {
    let current = for_write(conn, caller, id, None)?;
    let s = current.status()?;
    if !matches!(s, OrderStatus::Draft | OrderStatus::PendingApproval | OrderStatus::Approved) {
        return Err(DomainError::conflict(
            "checklist_closed",
            format!("sales order {} is {}: its checklist was agreed", current.number, s.as_str()),
        ));
    }
    let n = diesel::update(
        order_checklist_points::table
            .filter(order_checklist_points::id.eq(point_id))
            .filter(order_checklist_points::sales_order_id.eq(id)),
    )
    .set((
        order_checklist_points::ticked.eq(t.ticked),
        order_checklist_points::ticked_by.eq(t.ticked.then(|| caller.principal.name.clone())),
        order_checklist_points::ticked_at.eq(t.ticked.then(now)),
        order_checklist_points::comment.eq(&t.comment),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(DomainError::not_found("checklist point", point_id));
    }
    let approval = current.approval()?;
    docs::journal(
        conn,
        caller,
        DocKind::SalesOrder,
        id,
        &stage_label(&current, &approval),
        "event",
        format!(
            "Checklist point #{point_id} {}{}.",
            if t.ticked { "ticked" } else { "cleared" },
            t.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
        ),
    )?;
    audit::record(
        conn,
        caller,
        ENTITY,
        id,
        "checklist",
        &serde_json::json!({"point_id": point_id, "ticked": t.ticked, "comment": t.comment}),
    )?;
    points(conn, id)
}

/// `POST /quotations/{id}/convert`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConvertInto {
    SalesOrder,
    BlanketOrder,
}

/// Turns an accepted quotation into a draft sales order with the quoted lines and
/// prices (kept as quoted: the lines are locked to the quotation's prices).
pub fn from_quotation(
    conn: &mut DbConnection,
    caller: &Caller,
    quotation_id: i64,
    if_match: Option<i64>,
    base: Currency,
) -> Result<SalesOrder> {
    let (q, qlines) = crate::quotations::for_conversion(conn, caller, quotation_id, if_match)?;
    let qh = q.header()?;
    let h = SalesOrderCreate {
        customer_id: q.customer_id,
        order_type: standard(),
        contact_id: q.contact_id,
        customer_po: None,
        currency: qh.currency,
        date: Some(today()),
        requested_date: None,
        ship_to: None,
        payment_terms_days: q.payment_terms_days,
        delivery_terms: qh.delivery_terms,
        contract_number: None,
        price_list_id: q.price_list_id,
        sales_person_id: q.sales_person_id,
        sales_partner_id: q.sales_partner_id,
        campaign_id: q.campaign_id,
        territory_id: q.territory_id,
        notes: qh.notes,
        coupon_code: q.coupon_code.clone(),
        shipping_country: qh.shipping_country.clone(),
        warehouse_id: None,
        lines: vec![],
    };
    let mut h = OrderRow::resolve(conn, caller, h, None)?;
    // Shipping as quoted, not re-derived from the ship-to address.
    h.shipping_country = qh.shipping_country;
    let from = format!("quotation {} rev {}", q.number, q.revision);
    let pricing_lines = locked_copies(&qlines, &from)?;
    let order = create_resolved(conn, caller, h, pricing_lines, base, Some(q.id), None)?;
    crate::quotations::mark_converted(conn, caller, &q, Some(order.id), None)?;
    docs::journal(conn, caller, DocKind::SalesOrder, order.id, "draft", "event", format!("Converted from {from}."))?;
    Ok(order)
}

/// A document's own lines as locked inputs: their prices stand as they were.
pub(crate) fn locked_copies(rows: &[LineRow], from: &str) -> Result<Vec<PricingLine>> {
    rows.iter()
        .filter(|r| r.free_of_rule_id.is_none())
        .map(|r| {
            let mut locked = r.clone();
            let mut pricing: serde_json::Value = serde_json::from_str(&r.pricing).unwrap_or_default();
            pricing["locked_from"] = serde_json::Value::String(from.to_string());
            locked.pricing = pricing.to_string();
            Ok(PricingLine { input: r.input()?, locked: Some(locked) })
        })
        .collect()
}
