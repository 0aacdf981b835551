//! Activities: calls, meetings, emails, tasks and notes, assigned to a user and related
//! to a customer, contact, lead, opportunity, quotation or order; plus the iCalendar
//! feed of a user's open activities. An agent sees activities assigned to them,
//! created by them, or about their customers.

use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::time_util::{from_offset, now};
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, DomainError, Page, PageRequest, Permission, Result, Scope};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::{activities, contacts, quotations, sales_orders, users};
use ordo_db::{DbBackend, DbConnection};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

pub const ENTITY: &str = "activity";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Call,
    Meeting,
    Email,
    Task,
    Note,
}

impl ActivityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Meeting => "meeting",
            Self::Email => "email",
            Self::Task => "task",
            Self::Note => "note",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Call, Self::Meeting, Self::Email, Self::Task, Self::Note].into_iter().find(|k| k.as_str() == s)
    }
    /// Kinds that count as contact with the customer (`/reports/contact-overdue`).
    pub const CONTACT: [&'static str; 3] = ["call", "meeting", "email"];
}

/// An activity as written (also the shape PATCH merges into).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityCreate {
    pub kind: ActivityKind,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub body: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end_at: Option<OffsetDateTime>,
    /// The user who should do it; default the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotation_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_order_id: Option<i64>,
    #[serde(default)]
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub id: i64,
    #[serde(flatten)]
    pub data: ActivityCreate,
    /// When it was marked done.
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<OffsetDateTime>,
    /// Not done and past `due_at`.
    pub overdue: bool,
    pub created_by: Option<i64>,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = activities, treat_none_as_null = true)]
pub struct ActivityRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub body: Option<String>,
    pub due_at: Option<PrimitiveDateTime>,
    pub start_at: Option<PrimitiveDateTime>,
    pub end_at: Option<PrimitiveDateTime>,
    pub assignee_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    pub quotation_id: Option<i64>,
    pub sales_order_id: Option<i64>,
    pub done: bool,
    pub done_at: Option<PrimitiveDateTime>,
    pub outcome: Option<String>,
    pub created_by: Option<i64>,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl ActivityRow {
    fn apply(&mut self, c: &ActivityCreate) {
        self.kind = c.kind.as_str().into();
        self.subject = c.subject.trim().to_string();
        self.body = c.body.clone();
        self.due_at = c.due_at.map(from_offset);
        self.start_at = c.start_at.map(from_offset);
        self.end_at = c.end_at.map(from_offset);
        self.assignee_id = c.assignee_id;
        self.customer_id = c.customer_id;
        self.contact_id = c.contact_id;
        self.lead_id = c.lead_id;
        self.opportunity_id = c.opportunity_id;
        self.quotation_id = c.quotation_id;
        self.sales_order_id = c.sales_order_id;
        if c.done && !self.done {
            self.done_at = Some(now());
        }
        if !c.done {
            self.done_at = None;
        }
        self.done = c.done;
        self.outcome = c.outcome.clone();
    }
    pub fn to_create(&self) -> Result<ActivityCreate> {
        Ok(ActivityCreate {
            kind: ActivityKind::parse(&self.kind)
                .ok_or_else(|| DomainError::Internal(format!("activity {}: kind", self.id)))?,
            subject: self.subject.clone(),
            body: self.body.clone(),
            due_at: self.due_at.map(|t| t.assume_utc()),
            start_at: self.start_at.map(|t| t.assume_utc()),
            end_at: self.end_at.map(|t| t.assume_utc()),
            assignee_id: self.assignee_id,
            customer_id: self.customer_id,
            contact_id: self.contact_id,
            lead_id: self.lead_id,
            opportunity_id: self.opportunity_id,
            quotation_id: self.quotation_id,
            sales_order_id: self.sales_order_id,
            done: self.done,
            outcome: self.outcome.clone(),
        })
    }
    pub fn to_model(&self) -> Result<Activity> {
        Ok(Activity {
            id: self.id,
            data: self.to_create()?,
            done_at: self.done_at.map(|t| t.assume_utc()),
            overdue: !self.done && self.due_at.is_some_and(|d| d < now()),
            created_by: self.created_by,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

/// Activities the scope may see.
pub fn visible<'a>(scope: Scope) -> activities::BoxedQuery<'a, DbBackend> {
    match scope {
        Scope::All => activities::table.into_boxed(),
        Scope::OwnCustomers(me) => activities::table
            .filter(
                activities::assignee_id
                    .eq(me)
                    .or(activities::created_by.eq(me))
                    .or(activities::customer_id.eq_any(crate::scope::own_customer_ids(me).nullable())),
            )
            .into_boxed(),
    }
}

/// Who an activity list is for: a user id, or `me`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    Me,
    User(i64),
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub assignee: Option<Assignee>,
    /// Only open activities past their due time.
    pub overdue: Option<bool>,
    pub done: Option<bool>,
    pub kind: Option<ActivityKind>,
    pub customer_id: Option<i64>,
    pub lead_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    pub quotation_id: Option<i64>,
    pub sales_order_id: Option<i64>,
}

fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::PipelineRead)
}
fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::PipelineWrite)
}

pub fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<ActivityRow> {
    visible(caller.scope())
        .filter(activities::id.eq(id))
        .select(ActivityRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("activity", id))
}

/// Every reference must exist and be visible to the caller (404 naming the field).
fn check(conn: &mut DbConnection, caller: &Caller, c: &ActivityCreate, current: Option<&ActivityRow>) -> Result<()> {
    let changed =
        |v: Option<i64>, f: fn(&ActivityRow) -> Option<i64>| v.filter(|x| current.is_none_or(|r| f(r) != Some(*x)));
    if let (Some(s), Some(e)) = (c.start_at, c.end_at) {
        if e < s {
            return Err(DomainError::field("end_at", "before_start", "must not be before start_at"));
        }
    }
    if let Some(a) = changed(c.assignee_id, |r| r.assignee_id) {
        let active: Option<bool> = users::table.find(a).select(users::active).first(conn).optional()?;
        match active {
            None => return Err(DomainError::reference_not_found("user", "assignee_id", a)),
            Some(false) => {
                return Err(DomainError::field("assignee_id", "inactive", format!("user {a} is deactivated")))
            }
            Some(true) => {}
        }
    }
    if let Some(cid) = changed(c.customer_id, |r| r.customer_id) {
        crate::scope::referenced_customer(conn, caller.scope(), "customer_id", cid)?;
    }
    if let Some(k) = changed(c.contact_id, |r| r.contact_id) {
        let owner: Option<i64> = contacts::table.find(k).select(contacts::customer_id).first(conn).optional()?;
        let owner = owner.ok_or_else(|| DomainError::reference_not_found("contact", "contact_id", k))?;
        crate::scope::customer(conn, caller.scope(), owner)
            .map_err(|_| DomainError::reference_not_found("contact", "contact_id", k))?;
    }
    if let Some(l) = changed(c.lead_id, |r| r.lead_id) {
        crate::pipeline::lead_service::find(conn, caller.scope(), l)
            .map_err(|_| DomainError::reference_not_found("lead", "lead_id", l))?;
    }
    if let Some(o) = changed(c.opportunity_id, |r| r.opportunity_id) {
        crate::pipeline::opportunity_service::find(conn, caller.scope(), o)
            .map_err(|_| DomainError::reference_not_found("opportunity", "opportunity_id", o))?;
    }
    if let Some(q) = changed(c.quotation_id, |r| r.quotation_id) {
        let owner: Option<i64> = quotations::table.find(q).select(quotations::customer_id).first(conn).optional()?;
        let visible = owner.is_some_and(|cu| crate::scope::customer(conn, caller.scope(), cu).is_ok());
        if !visible {
            return Err(DomainError::reference_not_found("quotation", "quotation_id", q));
        }
    }
    if let Some(o) = changed(c.sales_order_id, |r| r.sales_order_id) {
        let owner: Option<i64> =
            sales_orders::table.find(o).select(sales_orders::customer_id).first(conn).optional()?;
        let visible = owner.is_some_and(|cu| crate::scope::customer(conn, caller.scope(), cu).is_ok());
        if !visible {
            return Err(DomainError::reference_not_found("sales order", "sales_order_id", o));
        }
    }
    Ok(())
}

fn save(conn: &mut DbConnection, row: &ActivityRow, expected: i64) -> Result<ActivityRow> {
    ordo_db::save_versioned!(conn, activities, row, expected)
}

pub fn create(conn: &mut DbConnection, caller: &Caller, mut input: ActivityCreate) -> Result<Activity> {
    write(caller)?;
    input.assignee_id = input.assignee_id.or(caller.principal.user_id());
    check(conn, caller, &input, None)?;
    let ts = now();
    let mut row = ActivityRow {
        id: 0,
        kind: String::new(),
        subject: String::new(),
        body: None,
        due_at: None,
        start_at: None,
        end_at: None,
        assignee_id: None,
        customer_id: None,
        contact_id: None,
        lead_id: None,
        opportunity_id: None,
        quotation_id: None,
        sales_order_id: None,
        done: false,
        done_at: None,
        outcome: None,
        created_by: caller.principal.user_id(),
        version: 1,
        created_at: ts,
        updated_at: ts,
    };
    row.apply(&input);
    let row: ActivityRow =
        diesel::insert_into(activities::table).values(&row).returning(activities::all_columns).get_result(conn)?;
    let v = row.to_model()?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

pub fn list(conn: &mut DbConnection, caller: &Caller, f: &Filter, page: &PageRequest) -> Result<Page<Activity>> {
    read(caller)?;
    let mut q = visible(caller.scope()).select(ActivityRow::as_select());
    match f.assignee {
        Some(Assignee::Me) => q = q.filter(activities::assignee_id.eq(caller.principal.user_id().unwrap_or(-1))),
        Some(Assignee::User(u)) => q = q.filter(activities::assignee_id.eq(u)),
        None => {}
    }
    match f.overdue {
        Some(true) => q = q.filter(activities::done.eq(false)).filter(activities::due_at.lt(now())),
        Some(false) => {
            q = q.filter(activities::done.eq(true).or(activities::due_at.is_null()).or(activities::due_at.ge(now())))
        }
        None => {}
    }
    if let Some(d) = f.done {
        q = q.filter(activities::done.eq(d));
    }
    if let Some(k) = f.kind {
        q = q.filter(activities::kind.eq(k.as_str()));
    }
    if let Some(c) = f.customer_id {
        q = q.filter(activities::customer_id.eq(c));
    }
    if let Some(l) = f.lead_id {
        q = q.filter(activities::lead_id.eq(l));
    }
    if let Some(o) = f.opportunity_id {
        q = q.filter(activities::opportunity_id.eq(o));
    }
    if let Some(x) = f.quotation_id {
        q = q.filter(activities::quotation_id.eq(x));
    }
    if let Some(x) = f.sales_order_id {
        q = q.filter(activities::sales_order_id.eq(x));
    }
    let rows = Page::from_rows(ordo_db::keyset!(q, page, activities::id).load(conn)?, page, |r: &ActivityRow| r.id);
    Ok(Page {
        data: rows.data.iter().map(ActivityRow::to_model).collect::<Result<_>>()?,
        next_cursor: rows.next_cursor,
        total: rows.total,
    })
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<Activity> {
    read(caller)?;
    find(conn, caller, id)?.to_model()
}

pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: MergePatch,
) -> Result<Activity> {
    let current = find(conn, caller, id)?;
    write(caller)?;
    check_version(if_match, current.version)?;
    let next = patched(&current.to_create()?, &p)?;
    check(conn, caller, &next, Some(&current))?;
    let mut row = current.clone();
    row.apply(&next);
    row.version += 1;
    row.updated_at = now();
    let saved = save(conn, &row, current.version)?.to_model()?;
    audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()?), &to_json(&saved)))?;
    Ok(saved)
}

pub fn delete(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<Removal<Activity>> {
    let current = find(conn, caller, id)?;
    write(caller)?;
    check_version(if_match, current.version)?;
    diesel::delete(activities::table.find(id)).execute(conn)?;
    audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
    Ok(Removal::Deleted)
}

pub fn history(conn: &mut DbConnection, caller: &Caller, id: i64, page: &PageRequest) -> Result<Page<Entry>> {
    read(caller)?;
    find(conn, caller, id)?;
    audit::history(conn, ENTITY, id, page)
}

/// The caller's open activities as an iCalendar document (RFC 5545): events with a
/// start, to-dos otherwise. At most 1,000, soonest first.
pub fn calendar(conn: &mut DbConnection, caller: &Caller) -> Result<String> {
    read(caller)?;
    let me = caller.principal.user_id().ok_or_else(|| DomainError::forbidden("calendar feeds are for users"))?;
    let rows: Vec<ActivityRow> = activities::table
        .filter(activities::assignee_id.eq(me))
        .filter(activities::done.eq(false))
        .order((activities::due_at.asc(), activities::id.asc()))
        .limit(1000)
        .select(ActivityRow::as_select())
        .load(conn)?;
    Ok(ics::render(&rows, now()))
}

pub mod ics {
    //! Just enough RFC 5545 for calendar clients: escaping, folding, UTC times.
    use super::ActivityRow;
    use time::PrimitiveDateTime;

    fn stamp(t: PrimitiveDateTime) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// TEXT escaping: backslash, semicolon, comma, newline.
    pub fn escape(s: &str) -> String {
        s.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace("\r\n", "\\n").replace('\n', "\\n")
    }

    /// Lines longer than 75 octets continue on the next line after a space, never
    /// inside a UTF-8 character.
    pub fn fold(line: &str) -> String {
        let mut out = String::new();
        let mut width = 0;
        for ch in line.chars() {
            let n = ch.len_utf8();
            if width + n > 75 {
                out.push_str("\r\n ");
                width = 1;
            }
            out.push(ch);
            width += n;
        }
        out.push_str("\r\n");
        out
    }

    pub fn render(rows: &[ActivityRow], now: PrimitiveDateTime) -> String {
        let mut out = String::new();
        for l in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Ordo//Activities//EN",
            "CALSCALE:GREGORIAN",
            "X-WR-CALNAME:Ordo activities",
        ] {
            out.push_str(&fold(l));
        }
        for r in rows {
            let event = r.start_at.is_some();
            let comp = if event { "VEVENT" } else { "VTODO" };
            out.push_str(&fold(&format!("BEGIN:{comp}")));
            out.push_str(&fold(&format!("UID:activity-{}@ordo", r.id)));
            out.push_str(&fold(&format!("DTSTAMP:{}", stamp(now))));
            if let Some(s) = r.start_at {
                out.push_str(&fold(&format!("DTSTART:{}", stamp(s))));
                let end = r.end_at.unwrap_or(s + time::Duration::minutes(30));
                out.push_str(&fold(&format!("DTEND:{}", stamp(end))));
            }
            if let (false, Some(d)) = (event, r.due_at) {
                out.push_str(&fold(&format!("DUE:{}", stamp(d))));
            }
            out.push_str(&fold(&format!("SUMMARY:{}", escape(&format!("[{}] {}", r.kind, r.subject)))));
            if let Some(b) = &r.body {
                out.push_str(&fold(&format!("DESCRIPTION:{}", escape(b))));
            }
            out.push_str(&fold(&format!("LAST-MODIFIED:{}", stamp(r.updated_at))));
            out.push_str(&fold(&format!("END:{comp}")));
        }
        out.push_str(&fold("END:VCALENDAR"));
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn escapes_and_folds() {
            assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
            let long = format!("SUMMARY:{}", "é".repeat(60));
            let folded = fold(&long);
            for part in folded.trim_end_matches("\r\n").split("\r\n") {
                assert!(part.len() <= 75, "{} octets", part.len());
            }
            assert_eq!(folded.replace("\r\n ", "").trim_end(), long);
        }
    }
}
