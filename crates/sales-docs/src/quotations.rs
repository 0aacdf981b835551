//! Quotations: `draft → sent → accepted | rejected | expired`, `cancelled`, and
//! `superseded` when a revision replaces one. Only drafts change. Expiry is evaluated
//! on read (a sent quotation past `valid_until` reads as `expired`) and persisted by
//! the daily job ([`expire_due`]).

use crate::docs::DOC_CUSTOMER;
use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::{to_json, Removal};
use ordo_core::{Caller, Currency, DomainError, Page, PageRequest, Result};
use ordo_db::audit::{self};
use ordo_db::schema::{customers, opportunities, quotations};
use ordo_db::{series, DbConnection};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::core::{self, own_inputs, Document, Priced};
use crate::docs::{self, read, write};
use crate::lines::{self, DocKind, DocTotals, HeaderPricing, Line, LineInput, LineRow, PricingLine};

pub const ENTITY: &str = "quotation";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotationStatus {
    Draft,
    Sent,
    Accepted,
    Rejected,
    Expired,
    Cancelled,
    /// Replaced by a newer revision.
    Superseded,
}

impl QuotationStatus {
    pub const ALL: [QuotationStatus; 7] =
        [Self::Draft, Self::Sent, Self::Accepted, Self::Rejected, Self::Expired, Self::Cancelled, Self::Superseded];
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sent => "sent",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Superseded => "superseded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A quotation as written. On PATCH (drafts only) the header fields merge into the
/// current ones; lines change through `/quotations/{id}/lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotationCreate {
    pub customer_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<i64>,
    /// Default: the customer's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Quotation date; default today.
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
    /// Default: 30 days after the date. A sent quotation expires after this day.
    #[serde(default, with = "ordo_core::serde_util::date::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<Date>,
    /// Price with this list instead of the customer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_list_id: Option<i64>,
    /// Default: the customer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_person_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_partner_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<i64>,
    /// Default: the customer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub delivery_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 40))]
    #[schema(min_length = 1, max_length = 40)]
    pub coupon_code: Option<String>,
    /// ISO 3166-1 alpha-2: charge shipping by the shipping rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(custom(function = "ordo_core::validate::country_code"))]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub shipping_country: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(length(max = 1000), nested)]
    #[schema(max_items = 1000)]
    pub lines: Vec<LineInput>,
}

/// A quotation with its priced lines (lists leave `lines` out).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Quotation {
    pub id: i64,
    /// Shared by all revisions, e.g. `QT-2026-000042`.
    pub number: String,
    pub revision: i32,
    /// The revision this one replaced.
    pub previous_id: Option<i64>,
    /// As of now: a sent quotation past `valid_until` reads as `expired`.
    pub status: QuotationStatus,
    pub status_reason: Option<String>,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub currency: Currency,
    #[serde(with = "ordo_core::serde_util::date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    #[serde(serialize_with = "ordo_core::serde_util::date::option::serialize")]
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<Date>,
    pub price_list_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    pub payment_terms_days: Option<i32>,
    pub delivery_terms: Option<String>,
    pub notes: Option<String>,
    pub coupon_code: Option<String>,
    pub shipping_country: Option<String>,
    /// The order this quotation was converted into.
    pub sales_order_id: Option<i64>,
    pub blanket_order_id: Option<i64>,
    pub totals: DocTotals,
    /// Why each price is what it is, overrides included.
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

/// Terms stored together in the `terms` column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<ordo_crm::model::Address>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = quotations, treat_none_as_null = true)]
pub struct QuotationRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub number: String,
    pub revision: i32,
    pub previous_id: Option<i64>,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub currency: String,
    pub doc_date: Date,
    pub valid_until: Option<Date>,
    pub price_list_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub territory_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    pub payment_terms_days: Option<i32>,
    pub coupon_code: Option<String>,
    pub terms: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub sales_order_id: Option<i64>,
    pub blanket_order_id: Option<i64>,
    pub net: i64,
    pub gross: i64,
    pub base_net: i64,
    pub pricing: String,
    pub archived_at: Option<PrimitiveDateTime>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

pub fn today() -> Date {
    now().date()
}

impl QuotationRow {
    pub fn stored_status(&self) -> Result<QuotationStatus> {
        QuotationStatus::parse(&self.status)
            .ok_or_else(|| DomainError::Internal(format!("quotation {}: status {:?}", self.id, self.status)))
    }
    /// The status as of `today`: sent and past its validity is expired.
    pub fn status_on(&self, today: Date) -> Result<QuotationStatus> {
        let s = self.stored_status()?;
        Ok(if s == QuotationStatus::Sent && self.valid_until.is_some_and(|v| v < today) {
            QuotationStatus::Expired
        } else {
            s
        })
    }
    pub fn terms(&self) -> Terms {
        serde_json::from_str(&self.terms).unwrap_or_default()
    }
    pub fn currency(&self) -> Result<Currency> {
        Currency::from_code(&self.currency)
            .ok_or_else(|| DomainError::Internal(format!("quotation {}: currency", self.id)))
    }
    pub fn to_model(&self, lines: Option<&[LineRow]>) -> Result<Quotation> {
        let pricing = HeaderPricing::parse(&self.pricing, &self.number)?;
        let t = self.terms();
        Ok(Quotation {
            id: self.id,
            number: self.number.clone(),
            revision: self.revision,
            previous_id: self.previous_id,
            status: self.status_on(today())?,
            status_reason: self.status_reason.clone(),
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            currency: self.currency()?,
            date: self.doc_date,
            valid_until: self.valid_until,
            price_list_id: self.price_list_id,
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            campaign_id: self.campaign_id,
            territory_id: self.territory_id,
            opportunity_id: self.opportunity_id,
            payment_terms_days: self.payment_terms_days,
            delivery_terms: t.delivery_terms,
            notes: t.notes,
            coupon_code: self.coupon_code.clone(),
            shipping_country: t.shipping_country,
            sales_order_id: self.sales_order_id,
            blanket_order_id: self.blanket_order_id,
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
    pub status: Option<QuotationStatus>,
    pub opportunity_id: Option<i64>,
    pub number: Option<String>,
    pub include_archived: bool,
    pub search: crate::docs::DocSearch,
}

/// A quotation the caller may see, or 404.
pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<QuotationRow> {
    core::find(conn, caller, id)
}

crate::document_table!(sales QuotationRow, quotations, entity: ENTITY, noun: "quotation", kind: DocKind::Quotation,
    model: Quotation, status: QuotationStatus, {
    fn status(&self) -> Result<QuotationStatus> {
        self.status_on(today())
    }
    fn not_draft(&self) -> Result<DomainError> {
        Ok(DomainError::conflict(
            "not_draft",
            format!("quotation {} is {}: only drafts change (revise it instead)", self.number, self.status_on(today())?.as_str()),
        ))
    }
    fn model(&self, lines: Option<&[LineRow]>) -> Result<Quotation> {
        self.to_model(lines)
    }
});

impl core::Priced for QuotationRow {
    type Header = QuotationCreate;
    crate::priced_by_header!();
    fn header(&self) -> Result<QuotationCreate> {
        let t = self.terms();
        Ok(QuotationCreate {
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            currency: Some(self.currency()?),
            date: Some(self.doc_date),
            valid_until: self.valid_until,
            price_list_id: self.price_list_id,
            sales_person_id: self.sales_person_id,
            sales_partner_id: self.sales_partner_id,
            campaign_id: self.campaign_id,
            territory_id: self.territory_id,
            opportunity_id: self.opportunity_id,
            payment_terms_days: self.payment_terms_days,
            delivery_terms: t.delivery_terms,
            notes: t.notes,
            coupon_code: self.coupon_code.clone(),
            shipping_country: t.shipping_country,
            lines: vec![],
        })
    }
    fn resolve(
        conn: &mut DbConnection,
        caller: &Caller,
        mut h: QuotationCreate,
        current: Option<&Self>,
    ) -> Result<QuotationCreate> {
        let customer_changed = current.is_none_or(|c| c.customer_id != h.customer_id);
        let customer =
            if customer_changed { Some(docs::document_customer(conn, caller, h.customer_id)?) } else { None };
        if customer_changed || current.is_some_and(|c| c.contact_id != h.contact_id) {
            docs::check_contact(conn, h.customer_id, h.contact_id)?;
        }
        if let Some(c) = &customer {
            if current.is_none() {
                h.currency = h.currency.or(Some(c.currency));
                h.sales_person_id = h.sales_person_id.or(c.sales_person_id);
                h.sales_partner_id = h.sales_partner_id.or(c.sales_partner_id);
                h.campaign_id = h.campaign_id.or(c.campaign_id);
                h.territory_id = h.territory_id.or(c.territory_id);
                h.payment_terms_days = h.payment_terms_days.or(Some(c.payment_terms_days));
            }
        }
        let date = h.date.unwrap_or_else(today);
        h.date = Some(date);
        if current.is_none() {
            h.valid_until = h.valid_until.or(Some(date + Duration::days(30)));
        }
        if h.valid_until.is_some_and(|v| v < date) {
            return Err(DomainError::field("valid_until", "before_date", "must not be before the quotation date"));
        }
        let changed = |f: fn(&QuotationRow) -> Option<i64>, v: Option<i64>| {
            v.filter(|x| current.is_none_or(|c| f(c) != Some(*x)))
        };
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
        if let Some(o) = changed(|c| c.opportunity_id, h.opportunity_id) {
            let visible = ordo_crm::pipeline::visible_opportunities(caller.scope())
                .filter(opportunities::id.eq(o))
                .count()
                .get_result::<i64>(conn)?;
            if visible == 0 {
                return Err(DomainError::reference_not_found("opportunity", "opportunity_id", o));
            }
        }
        Ok(h)
    }
    fn apply(&mut self, h: &QuotationCreate) {
        let row = self;
        row.customer_id = h.customer_id;
        row.contact_id = h.contact_id;
        row.currency = h.currency.map(|c| c.code().to_string()).unwrap_or_default();
        row.doc_date = h.date.unwrap_or_else(today);
        row.valid_until = h.valid_until;
        row.price_list_id = h.price_list_id;
        row.sales_person_id = h.sales_person_id;
        row.sales_partner_id = h.sales_partner_id;
        row.campaign_id = h.campaign_id;
        row.territory_id = h.territory_id;
        row.opportunity_id = h.opportunity_id;
        row.payment_terms_days = h.payment_terms_days;
        row.coupon_code = h.coupon_code.clone();
        let terms = Terms {
            delivery_terms: h.delivery_terms.clone(),
            notes: h.notes.clone(),
            shipping_country: h.shipping_country.clone(),
            ship_to: None,
        };
        row.terms = ordo_core::util::json_text(&terms);
    }
}

fn blank_row(number: String, revision: i32, previous_id: Option<i64>) -> QuotationRow {
    let ts = now();
    QuotationRow {
        id: 0,
        number,
        revision,
        previous_id,
        customer_id: 0,
        contact_id: None,
        currency: String::new(),
        doc_date: ts.date(),
        valid_until: None,
        price_list_id: None,
        sales_person_id: None,
        sales_partner_id: None,
        campaign_id: None,
        territory_id: None,
        opportunity_id: None,
        payment_terms_days: None,
        coupon_code: None,
        terms: "{}".into(),
        status: QuotationStatus::Draft.as_str().into(),
        status_reason: None,
        sales_order_id: None,
        blanket_order_id: None,
        net: 0,
        gross: 0,
        base_net: 0,
        pricing: "{}".into(),
        archived_at: None,
        version: 1,
        created_at: ts,
        updated_at: ts,
    }
}

pub fn create(conn: &mut DbConnection, caller: &Caller, input: QuotationCreate, base: Currency) -> Result<Quotation> {
    write(caller)?;
    let lines_in = input.lines.clone();
    lines::no_call_offs(lines_in.iter().enumerate().map(|(n, l)| (format!("lines[{n}]."), l)))?;
    let overrides: Vec<_> = lines_in.iter().enumerate().map(|(n, l)| (n, l, None)).collect();
    lines::check_overrides(caller, &overrides)?;
    let h = QuotationRow::resolve(conn, caller, input, None)?;
    create_resolved(
        conn,
        caller,
        h,
        lines_in.into_iter().map(|input| PricingLine { input, locked: None }).collect(),
        base,
        None,
    )
}

/// Writes a new quotation (or revision) whose header is resolved.
fn create_resolved(
    conn: &mut DbConnection,
    caller: &Caller,
    h: QuotationCreate,
    pricing_lines: Vec<PricingLine>,
    base: Currency,
    revision_of: Option<&QuotationRow>,
) -> Result<Quotation> {
    let mut row = match revision_of {
        Some(prev) => blank_row(prev.number.clone(), prev.revision + 1, Some(prev.id)),
        None => blank_row(String::new(), 1, None),
    };
    row.apply(&h);
    let ph = row.pricing_header()?;
    let priced = lines::price(conn, caller, &ph, &pricing_lines, base, false)?;
    row.set_pricing(&priced.header);
    if revision_of.is_none() {
        // Numbered after pricing, so the locked series row is held only for the inserts.
        row.number = series::next_number(conn, ENTITY)?;
    }
    let saved = row.insert(conn)?;
    let line_rows = lines::insert_all(conn, DocKind::Quotation, saved.id, &priced.lines)?;
    let v = saved.to_model(Some(&line_rows))?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Quotation>> {
    read(caller)?;
    let build = || {
        let mut q = quotations::table
            .inner_join(DOC_CUSTOMER.on(DOC_CUSTOMER.field(customers::id).eq(quotations::customer_id)))
            .select((QuotationRow::as_select(), DOC_CUSTOMER.field(customers::name)))
            .into_boxed();
        q = crate::scoped!(q, caller, quotations::customer_id);
        q = crate::doc_search!(q, &f.search, number: quotations::number, customer: quotations::customer_id,
            date: quotations::doc_date, updated: quotations::updated_at);
        if !f.include_archived {
            q = q.filter(quotations::archived_at.is_null());
        }
        if let Some(c) = f.customer_id {
            q = q.filter(quotations::customer_id.eq(c));
        }
        if let Some(o) = f.opportunity_id {
            q = q.filter(quotations::opportunity_id.eq(o));
        }
        if let Some(n) = &f.number {
            q = q.filter(quotations::number.eq(n.clone()));
        }
        let d = today();
        match f.status {
            // Expiry is a function of the date: match what a read would answer.
            Some(QuotationStatus::Expired) => {
                q = q.filter(
                    quotations::status
                        .eq("expired")
                        .or(quotations::status.eq("sent").and(quotations::valid_until.lt(d))),
                )
            }
            Some(QuotationStatus::Sent) => {
                q = q
                    .filter(quotations::status.eq("sent"))
                    .filter(quotations::valid_until.is_null().or(quotations::valid_until.ge(d)))
            }
            Some(s) => q = q.filter(quotations::status.eq(s.as_str())),
            None => {}
        }
        q
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = crate::doc_page!(conn, build(), page, quotations, QuotationRow, date: doc_date, total: gross);
    rows.total = total;
    let mut data: Vec<_> = rows.data.iter().map(|r| r.0.to_model(None)).collect::<Result<_>>()?;
    crate::expand::apply(conn, &mut data, &f.search.expand)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

pub fn send(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Quotation> {
    let sent = core::transition::<QuotationRow>(
        conn,
        caller,
        id,
        if_match,
        &[QuotationStatus::Draft],
        QuotationStatus::Sent,
        None,
        true,
    )?;
    ordo_db::events::emit(conn, caller, "quotation.sent", ("quotation", id), Some(sent.customer_id), &sent)?;
    Ok(sent)
}
pub fn accept(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Quotation> {
    core::transition::<QuotationRow>(
        conn,
        caller,
        id,
        if_match,
        &[QuotationStatus::Sent],
        QuotationStatus::Accepted,
        None,
        false,
    )
}
pub fn reject(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<Quotation> {
    core::transition::<QuotationRow>(
        conn,
        caller,
        id,
        if_match,
        &[QuotationStatus::Sent],
        QuotationStatus::Rejected,
        Some(reason),
        false,
    )
}
pub fn cancel(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    reason: String,
) -> Result<Quotation> {
    core::transition::<QuotationRow>(
        conn,
        caller,
        id,
        if_match,
        &[QuotationStatus::Draft, QuotationStatus::Sent],
        QuotationStatus::Cancelled,
        Some(reason),
        false,
    )
}

/// Archives a closed quotation: read-only, out of default lists, still in reports.
pub fn archive(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Quotation> {
    use QuotationStatus::*;
    core::archive::<QuotationRow>(
        conn,
        caller,
        id,
        if_match,
        &[Accepted, Rejected, Expired, Cancelled, Superseded],
        |row| {
            // An expiry read from the date becomes the stored status.
            row.status = row.status_on(today()).map(|s| s.as_str()).unwrap_or("expired").into();
            row.archived_at = Some(now());
        },
    )
}

/// A new draft revision (same number, revision + 1, linked back); the old one becomes
/// `superseded`. Lines and manual prices are copied and re-priced.
pub fn revise(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    base: Currency,
) -> Result<Quotation> {
    let current: QuotationRow = core::for_write(conn, caller, id, if_match)?;
    let s = current.status_on(today())?;
    if !matches!(s, QuotationStatus::Sent | QuotationStatus::Rejected | QuotationStatus::Expired) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!(
                "quotation {} is {}: only sent, rejected or expired quotations are revised",
                current.number,
                s.as_str()
            ),
        ));
    }
    let stored = lines::load(conn, DocKind::Quotation, id)?;
    let mut old = current.clone();
    old.status = QuotationStatus::Superseded.as_str().into();
    let details = serde_json::json!({"status": {"from": s.as_str(), "to": "superseded"}});
    core::commit(conn, caller, &current, old, "supersede", &details)?;
    let mut h = current.header()?;
    h.date = Some(today());
    let validity = current.valid_until.map(|v| v - current.doc_date).unwrap_or(Duration::days(30));
    h.valid_until = Some(today() + validity);
    // The customer may have been blocked since: a revision is a new offer.
    docs::document_customer(conn, caller, h.customer_id)?;
    let (inputs, _) = own_inputs(&stored)?;
    create_resolved(
        conn,
        caller,
        h,
        inputs.into_iter().map(|input| PricingLine { input, locked: None }).collect(),
        base,
        Some(&current),
    )
}

pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Quotation>> {
    let current: QuotationRow = core::editable(conn, caller, id, if_match)?;
    if current.revision > 1 {
        return Err(DomainError::conflict("revision", "a revision cannot be deleted; cancel it instead"));
    }
    let ls = lines::load(conn, DocKind::Quotation, id)?;
    core::remove(conn, caller, &current, &ls)?;
    Ok(Removal::Deleted)
}

/// Marks the quotation converted (once) into an order; the caller checked the state.
pub fn mark_converted(
    conn: &mut DbConnection,
    caller: &Caller,
    current: &QuotationRow,
    order: Option<i64>,
    blanket: Option<i64>,
) -> Result<()> {
    let mut row = current.clone();
    row.sales_order_id = order;
    row.blanket_order_id = blanket;
    let details = serde_json::json!({"sales_order_id": order, "blanket_order_id": blanket});
    core::commit(conn, caller, current, row, "convert", &details)?;
    Ok(())
}

/// The daily job: persists the expiry of sent quotations past `valid_until`, with an
/// audit entry each. Idempotent, so any number of processes may run it.
pub fn expire_due(conn: &mut DbConnection, caller: &Caller, today: Date) -> Result<usize> {
    let due: Vec<i64> = quotations::table
        .filter(quotations::status.eq("sent"))
        .filter(quotations::valid_until.lt(today))
        .select(quotations::id)
        .load(conn)?;
    if due.is_empty() {
        return Ok(0);
    }
    diesel::update(quotations::table.filter(quotations::id.eq_any(&due)).filter(quotations::status.eq("sent")))
        .set((
            quotations::status.eq("expired"),
            quotations::version.eq(quotations::version + 1),
            quotations::updated_at.eq(now()),
        ))
        .execute(conn)?;
    for id in &due {
        audit::record(
            conn,
            caller,
            ENTITY,
            *id,
            "expire",
            &serde_json::json!({"status": {"from": "sent", "to": "expired"}}),
        )?;
    }
    Ok(due.len())
}

/// For conversion: the accepted quotation and its lines, checked.
pub fn for_conversion(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
) -> Result<(QuotationRow, Vec<LineRow>)> {
    let current: QuotationRow = core::for_write(conn, caller, id, if_match)?;
    let s = current.status_on(today())?;
    if s != QuotationStatus::Accepted {
        return Err(DomainError::conflict(
            "not_accepted",
            format!("quotation {} is {}: only accepted quotations convert", current.number, s.as_str()),
        ));
    }
    if current.sales_order_id.is_some() || current.blanket_order_id.is_some() {
        return Err(DomainError::conflict(
            "already_converted",
            format!("quotation {} is already converted", current.number),
        ));
    }
    let ls = lines::load(conn, DocKind::Quotation, id)?;
    Ok((current, ls))
}

/// A draft quotation for an opportunity's customer with its items of interest as
/// lines, priced by the engine in the opportunity's currency.
pub fn from_opportunity(
    conn: &mut DbConnection,
    caller: &Caller,
    opportunity_id: i64,
    base: Currency,
) -> Result<Quotation> {
    use ordo_crm::pipeline::{opportunity_service, OpportunityStatus};
    write(caller)?;
    let opp = opportunity_service::find(conn, caller.scope(), opportunity_id)?;
    if opp.status != OpportunityStatus::Open.as_str() {
        return Err(DomainError::conflict(
            "opportunity_closed",
            format!("opportunity {opportunity_id} is {}", opp.status),
        ));
    }
    let Some(customer_id) = opp.customer_id else {
        return Err(DomainError::conflict(
            "no_customer",
            format!("opportunity {opportunity_id} has no customer yet: convert its lead first"),
        ));
    };
    let items = opportunity_service::items_of(conn, &[opportunity_id])?.remove(&opportunity_id).unwrap_or_default();
    if items.is_empty() {
        return Err(DomainError::rule("no_items", "the opportunity has no items of interest to quote"));
    }
    let h = QuotationCreate {
        customer_id,
        contact_id: None,
        currency: Currency::from_code(&opp.currency),
        date: None,
        valid_until: None,
        price_list_id: None,
        sales_person_id: None,
        sales_partner_id: None,
        campaign_id: opp.campaign_id,
        territory_id: opp.territory_id,
        opportunity_id: Some(opportunity_id),
        payment_terms_days: None,
        delivery_terms: None,
        notes: Some(format!("For opportunity: {}", opp.title)),
        coupon_code: None,
        shipping_country: None,
        lines: vec![],
    };
    let h = QuotationRow::resolve(conn, caller, h, None)?;
    let lines = items
        .into_iter()
        .map(|i| PricingLine {
            input: LineInput {
                item_id: i.item_id,
                description: None,
                quantity: i.quantity,
                unit: None,
                options: Default::default(),
                components: vec![],
                requested_date: None,
                manual_price: None,
                manual_discount_percent: None,
                override_reason: None,
                blanket_line_id: None,
                warehouse_id: None,
            },
            locked: None,
        })
        .collect();
    create_resolved(conn, caller, h, lines, base, None)
}
