//! E-mail through the outbox: sending a document (`POST /invoices/{id}/send`, the same
//! for sales orders and blanket orders; posted invoices of customers whose
//! `invoice_delivery` is `email` on posting) writes an `email_messages` row in the
//! request's transaction: no mail for a rolled-back change, none lost for a committed
//! one. The leased `email_delivery` job (one process at a time) renders the PDF (and the
//! UBL XML when the customer wants e-invoices) and hands the message to the SMTP server
//! configured by `ORDO_SMTP_*`; a temporary refusal (4xx, no connection) is retried with
//! exponential backoff, a permanent one (5xx) fails at once; every attempt's SMTP answer
//! is kept (`GET /outbox`). The `sla_timers` job queues its escalation notices the same
//! way (`on_escalation`): plain text, no attachment, about a ticket.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use diesel::prelude::*;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use ordo_core::time_util::now;
use ordo_core::util::json_text;
use ordo_core::{Caller, DomainError, FieldError, Page, PageRequest, Permission, Result as DResult, Scope};
use ordo_db::schema::{customers, email_messages};
use ordo_db::{DbConnection, Stats};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::attachments::MailFile;
use crate::documents::{self, DocumentKind, Print, TemplateFormat};
use crate::extract::{json_response, Auth, StrictQuery, ValidJson};
use crate::problem::Problem;
use crate::AppState;

/// After this many failed attempts a message is `failed` for good.
const MAX_ATTEMPTS: i32 = 8;
/// Messages one job run sends.
const BATCH: i64 = 20;
/// Item files one message carries at most.
const MAX_FILES: usize = 20;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network).
    None,
    /// STARTTLS on the submission port (required, not opportunistic).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP server mail goes through (`ORDO_SMTP_*`).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The sender (`Ordo Sp. z o.o. <faktury@example.com>`).
    pub from: String,
    pub timeout: std::time::Duration,
    /// The first retry waits this long; each next one twice as long (up to 6 hours).
    pub retry_base_seconds: i64,
}

/// Whether a sender address parses (checked at start-up, not at the first message).
pub fn valid_sender(from: &str) -> Result<(), String> {
    from.parse::<Mailbox>().map(|_| ()).map_err(|e| format!("ORDO_SMTP_FROM {from:?}: {e}"))
}

// ---- model -------------------------------------------------------------------------------------

/// `POST /{documents}/{id}/send`
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Default: the document's contact's e-mail, else the customer's.
    #[validate(length(min = 1, max = 20), custom(function = "valid_addresses"))]
    #[schema(max_items = 20)]
    pub to: Option<Vec<String>>,
    #[validate(length(max = 20), custom(function = "valid_addresses"))]
    #[schema(max_items = 20)]
    pub cc: Option<Vec<String>>,
    /// The message text above the attachment (default: a short note naming the document).
    #[validate(length(min = 1, max = 10000))]
    #[schema(min_length = 1, max_length = 10000)]
    pub message: Option<String>,
    /// ISO 639-1 language of the PDF and the default text (default: the company's).
    #[validate(length(equal = 2))]
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: Option<String>,
    /// Attach the files of the document's items flagged `send_with_offers` (brochures,
    /// specifications, certificates; each file once, at most 20). Default: `true` for a
    /// quotation, `false` for the other kinds.
    pub attach_item_documents: Option<bool>,
}

fn valid_addresses(v: &[String]) -> Result<(), validator::ValidationError> {
    match v.iter().find(|a| a.parse::<Mailbox>().is_err() || !validator::ValidateEmail::validate_email(a)) {
        None => Ok(()),
        Some(bad) => {
            Err(validator::ValidationError::new("email")
                .with_message(format!("{bad:?} is not an e-mail address").into()))
        }
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its (next) attempt at `next_attempt_at`.
    Pending,
    /// The SMTP server accepted it.
    Sent,
    /// Refused for good (a 5xx answer) or after 8 attempts.
    Failed,
}

/// One delivery attempt: when, whether the server took it, and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MailAttempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub accepted: bool,
    /// The SMTP server's answer, or why there was none.
    pub answer: String,
}

/// What a message is about: a document (mailed as PDF) or a ticket (an SLA escalation,
/// plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    Quotation,
    SalesOrder,
    BlanketOrder,
    Invoice,
    CreditNote,
    Ticket,
}

impl OutboxKind {
    fn as_str(&self) -> &'static str {
        self.document().map_or("ticket", |d| d.as_str())
    }
    /// The printed document a message carries; none for a ticket's notice.
    fn document(&self) -> Option<DocumentKind> {
        match self {
            Self::Quotation => Some(DocumentKind::Quotation),
            Self::SalesOrder => Some(DocumentKind::SalesOrder),
            Self::BlanketOrder => Some(DocumentKind::BlanketOrder),
            Self::Invoice => Some(DocumentKind::Invoice),
            Self::CreditNote => Some(DocumentKind::CreditNote),
            Self::Ticket => None,
        }
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub id: i64,
    /// `ticket`: an SLA escalation e-mail about ticket `document_id` (text, no attachment).
    pub document_kind: OutboxKind,
    pub document_id: i64,
    pub customer_id: i64,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub language: String,
    /// The UBL XML is attached next to the PDF.
    pub attach_ubl: bool,
    /// The item files mailed next to the document (their display names).
    pub item_documents: Vec<String>,
    pub status: OutboxStatus,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// The last SMTP answer (or why there was none).
    pub last_answer: Option<String>,
    /// The last 20 attempts, oldest first.
    pub log: Vec<MailAttempt>,
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<OffsetDateTime>,
    /// Who sent it (`posting` when an invoice was mailed on posting).
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_messages)]
struct MessageRow {
    id: i64,
    doc_kind: String,
    doc_id: i64,
    customer_id: i64,
    recipients: String,
    subject: String,
    body: String,
    language: String,
    attach_ubl: bool,
    status: String,
    attempts: i32,
    next_attempt_at: PrimitiveDateTime,
    last_answer: Option<String>,
    log: String,
    sent_at: Option<PrimitiveDateTime>,
    created_by: String,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
    /// The files mailed next to the document (JSON `[MailFile]`).
    extra_attachments: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Recipients {
    to: Vec<String>,
    cc: Vec<String>,
}

impl MessageRow {
    fn kind(&self) -> OutboxKind {
        serde_json::from_value(Value::String(self.doc_kind.clone())).unwrap_or(OutboxKind::Invoice)
    }
    fn files(&self) -> Vec<MailFile> {
        serde_json::from_str(&self.extra_attachments).unwrap_or_default()
    }
    fn to_model(&self) -> OutboxMessage {
        let r: Recipients = serde_json::from_str(&self.recipients).unwrap_or_default();
        OutboxMessage {
            id: self.id,
            document_kind: self.kind(),
            document_id: self.doc_id,
            customer_id: self.customer_id,
            to: r.to,
            cc: r.cc,
            subject: self.subject.clone(),
            language: self.language.clone(),
            attach_ubl: self.attach_ubl,
            item_documents: self.files().into_iter().map(|f| f.filename).collect(),
            status: match self.status.as_str() {
                "sent" => OutboxStatus::Sent,
                "failed" => OutboxStatus::Failed,
                _ => OutboxStatus::Pending,
            },
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.assume_utc(),
            last_answer: self.last_answer.clone(),
            log: serde_json::from_str(&self.log).unwrap_or_default(),
            sent_at: self.sent_at.map(|t| t.assume_utc()),
            created_by: self.created_by.clone(),
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        }
    }
}

// ---- enqueueing --------------------------------------------------------------------------------

fn write_permission(kind: DocumentKind) -> Permission {
    match kind {
        DocumentKind::Invoice | DocumentKind::CreditNote => Permission::BillingWrite,
        _ => Permission::SalesDocsWrite,
    }
}

/// The default text of a message, per language.
fn default_text(title: &str, number: &str, company: &str, lang: &str) -> String {
    match lang {
        "pl" => {
            format!("Dzień dobry,\n\nw załączeniu przesyłamy dokument {title} {number}.\n\nZ poważaniem\n{company}")
        }
        _ => format!("Hello,\n\nplease find attached {title} {number}.\n\nKind regards\n{company}"),
    }
}

/// Writes the outbox row for a document the caller may see (404 otherwise).
/// `created_by` names the sender (the caller, or `posting`).
pub fn enqueue(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: DocumentKind,
    id: i64,
    req: SendRequest,
    created_by: &str,
) -> DResult<OutboxMessage> {
    caller.require(write_permission(kind))?;
    let doc = documents::expanded_for(conn, caller, kind, id)?;
    let kind = match (kind, doc["kind"].as_str()) {
        (DocumentKind::Invoice, Some("credit_note")) => DocumentKind::CreditNote,
        (k, _) => k,
    };
    if matches!(kind, DocumentKind::Invoice | DocumentKind::CreditNote) && doc["status"] == "draft" {
        return Err(DomainError::rule("not_posted", "a draft is not sent: post it first"));
    }
    if doc["status"] == "cancelled" {
        return Err(DomainError::rule("cancelled", format!("a cancelled {} is not sent", kind.as_str())));
    }
    // Mailing a draft quotation offers it: the same transition as `POST /quotations/{id}/send`.
    if kind == DocumentKind::Quotation && doc["status"] == "draft" {
        ordo_sales_docs::quotations::send(conn, caller, id, None)?;
    }
    let files = if req.attach_item_documents.unwrap_or(kind == DocumentKind::Quotation) {
        let mut items: Vec<i64> =
            doc["lines"].as_array().into_iter().flatten().filter_map(|l| l["item_id"].as_i64()).collect();
        items.sort_unstable();
        items.dedup();
        let mut files = crate::attachments::offer_files(conn, &items)?;
        files.truncate(MAX_FILES);
        files
    } else {
        vec![]
    };
    let customer_id = doc["customer_id"].as_i64().unwrap_or_default();
    let (customer_email, e_invoice): (Option<String>, bool) =
        customers::table.find(customer_id).select((customers::email, customers::e_invoice)).first(conn)?;
    let to = match req.to {
        Some(to) => to,
        None => {
            let contact = doc["expanded"]["contact"]["email"].as_str().map(str::to_string);
            contact.or(customer_email).into_iter().collect()
        }
    };
    if to.is_empty() {
        return Err(DomainError::Validation(vec![FieldError::new(
            "to",
            "required",
            "neither the document's contact nor the customer has an e-mail address: name one",
        )]));
    }
    let company = crate::company::load(conn)?.data;
    let lang = req.language.unwrap_or_else(|| company.default_language.clone());
    let title = documents::title(kind, &lang);
    let number = doc["number"].as_str().unwrap_or_default().to_string();
    let subject = format!("{title} {number} · {}", company.legal_name);
    let body = req.message.unwrap_or_else(|| default_text(&title, &number, &company.legal_name, &lang));
    let attach_ubl = e_invoice && matches!(kind, DocumentKind::Invoice | DocumentKind::CreditNote);
    let row = insert(
        conn,
        Queued {
            kind: kind.as_str(),
            id,
            customer_id,
            recipients: Recipients { to, cc: req.cc.unwrap_or_default() },
            subject,
            body,
            language: lang,
            attach_ubl,
            files: json_text(&files),
            created_by,
        },
    )?;
    Ok(row.to_model())
}

/// A message as queued.
struct Queued<'a> {
    kind: &'a str,
    id: i64,
    customer_id: i64,
    recipients: Recipients,
    subject: String,
    body: String,
    language: String,
    attach_ubl: bool,
    /// JSON `[MailFile]`.
    files: String,
    created_by: &'a str,
}

/// Writes a pending outbox row, due now.
fn insert(conn: &mut DbConnection, m: Queued) -> DResult<MessageRow> {
    let ts = now();
    Ok(diesel::insert_into(email_messages::table)
        .values((
            email_messages::doc_kind.eq(m.kind),
            email_messages::doc_id.eq(m.id),
            email_messages::customer_id.eq(m.customer_id),
            email_messages::recipients.eq(json_text(&m.recipients)),
            email_messages::subject.eq(&m.subject),
            email_messages::body.eq(&m.body),
            email_messages::language.eq(&m.language),
            email_messages::attach_ubl.eq(m.attach_ubl),
            email_messages::extra_attachments.eq(&m.files),
            email_messages::status.eq("pending"),
            email_messages::attempts.eq(0),
            email_messages::next_attempt_at.eq(ts),
            email_messages::log.eq("[]"),
            email_messages::created_by.eq(m.created_by),
            email_messages::created_at.eq(ts),
            email_messages::updated_at.eq(ts),
        ))
        .returning(email_messages::all_columns)
        .get_result(conn)?)
}

/// On posting: mails the invoice or credit note when the customer's `invoice_delivery`
/// is `email` and there is an address to mail it to.
pub fn on_posted(conn: &mut DbConnection, caller: &Caller, invoice_id: i64, customer_id: i64) -> DResult<()> {
    let (delivery, email): (String, Option<String>) =
        customers::table.find(customer_id).select((customers::invoice_delivery, customers::email)).first(conn)?;
    if delivery != "email" || email.is_none() {
        return Ok(());
    }
    enqueue(conn, caller, DocumentKind::Invoice, invoice_id, SendRequest::default(), "posting").map(|_| ())
}

/// The `sla_timers` job's escalation e-mail (`ordo_service::sla::Mailer`): plain text in
/// the company's default language (English, or Polish), queued in the escalation's
/// transaction like every other message.
pub fn on_escalation(conn: &mut DbConnection, m: &ordo_service::sla::SlaMail) -> DResult<()> {
    use ordo_service::setup::EscalationLevel;
    use ordo_service::sla::Target;
    let company = crate::company::load(conn)?.data;
    let t = m.ticket;
    let pl = company.default_language == "pl";
    let level = match (m.level, pl) {
        (EscalationLevel::AtRisk, false) => "at risk",
        (EscalationLevel::Breached, false) => "breached",
        (EscalationLevel::AtRisk, true) => "zagrożony",
        (EscalationLevel::Breached, true) => "przekroczony",
    };
    let mut lines = vec![];
    for target in &m.targets {
        let (name, clock) = match (target, &t.sla) {
            (Target::FirstResponse, Some(s)) => {
                (if pl { "pierwsza odpowiedź" } else { "first response" }, &s.first_response)
            }
            (Target::Resolution, Some(s)) => (if pl { "rozwiązanie" } else { "resolution" }, &s.resolution),
            (_, None) => continue,
        };
        let due = clock.due_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        lines.push(if pl { format!("- {name}: termin {due} (UTC)") } else { format!("- {name}: due {due} (UTC)") });
    }
    let subject = format!("[SLA {level}] {} {}", t.number, t.subject);
    let [ticket, customer, priority, stage] =
        if pl { ["Zgłoszenie", "klient", "priorytet", "etap"] } else { ["Ticket", "customer", "priority", "stage"] };
    let body = format!(
        "{ticket} {} \"{}\" ({customer} #{}, {priority} {}, {stage} {}): SLA {level}.\n{}\n\n/api/v1/tickets/{}\n\n{}",
        t.number,
        t.subject,
        t.customer_id,
        t.priority.as_str(),
        t.stage,
        lines.join("\n"),
        t.id,
        company.legal_name
    );
    insert(
        conn,
        Queued {
            kind: OutboxKind::Ticket.as_str(),
            id: t.id,
            customer_id: t.customer_id,
            recipients: Recipients { to: m.to.clone(), cc: vec![] },
            subject,
            body,
            language: if pl { "pl" } else { "en" }.into(),
            attach_ubl: false,
            files: "[]".into(),
            created_by: "sla_timers",
        },
    )?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// One document's messages: `invoice:12`, `sales_order:7`, `blanket_order:3`,
    /// `quotation:5` (credit notes are `invoice:`), `ticket:4` (its SLA e-mails).
    pub document: Option<String>,
    pub status: Option<OutboxStatus>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

fn list(conn: &mut DbConnection, caller: &Caller, q: &OutboxQuery, page: &PageRequest) -> DResult<Page<OutboxMessage>> {
    if !caller.has(Permission::BillingRead) && !caller.has(Permission::SalesDocsRead) {
        return Err(DomainError::forbidden("the outbox needs BillingRead or SalesDocsRead"));
    }
    let document =
        match q.document.as_deref() {
            None => None,
            Some(d) => {
                let parsed = d.split_once(':').and_then(|(k, id)| {
                    let kind: OutboxKind = serde_json::from_value(Value::String(k.into())).ok()?;
                    Some((kind, id.parse::<i64>().ok()?))
                });
                Some(parsed.ok_or_else(|| {
                    DomainError::field("document", "invalid", "a document as kind:id, e.g. invoice:12")
                })?)
            }
        };
    let build = || {
        let mut b = email_messages::table.select(MessageRow::as_select()).into_boxed();
        if let Scope::OwnCustomers(me) = caller.scope() {
            b = b.filter(email_messages::customer_id.eq_any(ordo_crm::scope::own_customer_ids(me)));
        }
        if let Some((kind, id)) = document {
            let kinds: Vec<&str> = if kind == OutboxKind::Invoice || kind == OutboxKind::CreditNote {
                vec!["invoice", "credit_note"]
            } else {
                vec![kind.as_str()]
            };
            b = b.filter(email_messages::doc_kind.eq_any(kinds)).filter(email_messages::doc_id.eq(id));
        }
        if let Some(s) = q.status {
            let s = match s {
                OutboxStatus::Pending => "pending",
                OutboxStatus::Sent => "sent",
                OutboxStatus::Failed => "failed",
            };
            b = b.filter(email_messages::status.eq(s));
        }
        b
    };
    let total = ordo_db::total!(conn, page, build());
    let mut rows = ordo_db::keyset_page!(conn, build(), page, email_messages::id => |r: &MessageRow| r.id);
    rows.total = total;
    Ok(Page {
        data: rows.data.iter().map(MessageRow::to_model).collect(),
        next_cursor: rows.next_cursor,
        total: rows.total,
    })
}

// ---- delivery ----------------------------------------------------------------------------------

/// A due message with its rendered attachments (or why they could not be rendered).
struct Ready {
    row: MessageRow,
    number: String,
    /// None: a text-only notice.
    pdf_markup: Option<Result<documents::Filled, String>>,
    ubl: Option<Result<String, String>>,
}

fn due(conn: &mut DbConnection, files: &std::path::Path) -> DResult<Vec<Ready>> {
    let rows: Vec<MessageRow> = email_messages::table
        .filter(email_messages::status.eq("pending"))
        .filter(email_messages::next_attempt_at.le(now()))
        .order(email_messages::id.asc())
        .limit(BATCH)
        .select(MessageRow::as_select())
        .load(conn)?;
    let system = Caller::system();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(kind) = row.kind().document() else {
            out.push(Ready { row, number: String::new(), pdf_markup: None, ubl: None });
            continue;
        };
        let print =
            Print { kind, format: TemplateFormat::Pdf, lang: Some(row.language.clone()), files: files.to_path_buf() };
        // Each rendering in its own savepoint: one broken document does not stop the rest.
        // The document is loaded once: its number names the attachments, it fills the PDF.
        let rendered = conn.transaction(|c| {
            let doc = documents::expanded_for(c, &system, kind, row.doc_id)?;
            let number = doc["number"].as_str().map(str::to_string);
            let customer_id = doc["customer_id"].as_i64().unwrap_or_default();
            documents::fill(c, &system, &print, doc, customer_id).map(|m| (number, m))
        });
        let (number, pdf_markup) = match rendered {
            Ok((number, markup)) => (number, Ok(markup)),
            Err(e) => (None, Err(e.to_string())),
        };
        let number = number.unwrap_or_else(|| row.doc_id.to_string());
        let ubl = row.attach_ubl.then(|| {
            conn.transaction(|c| documents::e_invoice(c, &system, row.doc_id)).map_err(|e: DomainError| e.to_string())
        });
        out.push(Ready { row, number, pdf_markup: Some(pdf_markup), ubl });
    }
    Ok(out)
}

/// The outcome of one attempt: accepted, refused for now (retry), refused for good.
enum Outcome {
    Accepted(String),
    Retry(String),
    Permanent(String),
}

fn transport(cfg: &SmtpConfig) -> Result<SmtpTransport, String> {
    let builder = match cfg.tls {
        SmtpTls::None => SmtpTransport::builder_dangerous(&cfg.host),
        SmtpTls::StartTls => SmtpTransport::starttls_relay(&cfg.host).map_err(|e| e.to_string())?,
        SmtpTls::Tls => SmtpTransport::relay(&cfg.host).map_err(|e| e.to_string())?,
    };
    let mut builder = builder.port(cfg.port).timeout(Some(cfg.timeout));
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(builder.build())
}

fn compose(cfg: &SmtpConfig, dir: &std::path::Path, m: &Ready) -> Result<Message, String> {
    let r: Recipients = serde_json::from_str(&m.row.recipients).map_err(|e| e.to_string())?;
    let mut b = Message::builder()
        .from(cfg.from.parse::<Mailbox>().map_err(|e| format!("ORDO_SMTP_FROM: {e}"))?)
        .subject(m.row.subject.clone());
    for a in &r.to {
        b = b.to(a.parse::<Mailbox>().map_err(|e| format!("{a}: {e}"))?);
    }
    for a in &r.cc {
        b = b.cc(a.parse::<Mailbox>().map_err(|e| format!("{a}: {e}"))?);
    }
    let Some(markup) = &m.pdf_markup else {
        return b.header(ContentType::TEXT_PLAIN).body(m.row.body.clone()).map_err(|e| e.to_string());
    };
    let filled = markup.as_ref().map_err(|e| format!("rendering the PDF: {e}"))?;
    let pdf = documents::pdf::typeset(filled.source.clone(), filled.logo.clone())
        .map_err(|e| format!("typesetting the PDF: {e}"))?;
    let file = m.number.replace(['/', '\\', '"'], "-");
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(m.row.body.clone())).singlepart(
        Attachment::new(format!("{file}.pdf"))
            .body(pdf, ContentType::parse("application/pdf").map_err(|e| e.to_string())?),
    );
    if let Some(ubl) = &m.ubl {
        let xml = ubl.clone().map_err(|e| format!("the e-invoice: {e}"))?;
        parts = parts.singlepart(
            Attachment::new(format!("{file}.xml"))
                .body(xml.into_bytes(), ContentType::parse("application/xml").map_err(|e| e.to_string())?),
        );
    }
    for f in m.row.files() {
        // A file deleted since the message was queued is left out, not waited for.
        let Ok(bytes) = std::fs::read(dir.join(&f.sha256)) else {
            tracing::warn!(message = m.row.id, file = %f.filename, "attachment file gone: not mailed");
            continue;
        };
        let ct = ContentType::parse(&f.content_type)
            .or_else(|_| ContentType::parse("application/octet-stream"))
            .map_err(|e| e.to_string())?;
        parts = parts.singlepart(Attachment::new(f.filename.clone()).body(bytes, ct));
    }
    b.multipart(parts).map_err(|e| e.to_string())
}

fn attempt(cfg: &SmtpConfig, dir: &std::path::Path, smtp: &SmtpTransport, m: &Ready) -> Outcome {
    let message = match compose(cfg, dir, m) {
        Ok(msg) => msg,
        // The document cannot be rendered (yet): a template may be fixed; retry.
        Err(e) => return Outcome::Retry(e),
    };
    match smtp.send(&message) {
        Ok(r) => Outcome::Accepted(format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))),
        Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

fn record(conn: &mut DbConnection, m: &MessageRow, outcome: &Outcome, retry_base: i64) -> DResult<bool> {
    let ts = now();
    let (accepted, answer) = match outcome {
        Outcome::Accepted(a) => (true, a.clone()),
        Outcome::Retry(a) | Outcome::Permanent(a) => (false, a.clone()),
    };
    let log = crate::jobs::log_with(&m.log, MailAttempt { at: ts.assume_utc(), accepted, answer: answer.clone() });
    let attempts = m.attempts + 1;
    let (status, next) = match outcome {
        Outcome::Accepted(_) => ("sent", ts),
        Outcome::Permanent(_) => ("failed", ts),
        Outcome::Retry(_) if attempts >= MAX_ATTEMPTS => ("failed", ts),
        Outcome::Retry(_) => {
            let wait = retry_base.saturating_mul(1i64 << (attempts - 1).min(20)).min(6 * 3600);
            ("pending", ts + Duration::seconds(wait))
        }
    };
    diesel::update(email_messages::table.find(m.id))
        .set((
            email_messages::status.eq(status),
            email_messages::attempts.eq(attempts),
            email_messages::next_attempt_at.eq(next),
            email_messages::last_answer.eq(Some(answer)),
            email_messages::log.eq(&log),
            email_messages::sent_at.eq(accepted.then_some(ts)),
            email_messages::updated_at.eq(ts),
        ))
        .execute(conn)?;
    Ok(accepted)
}

/// The `email_delivery` job: render and send what is due, record the answers. Without
/// SMTP settings messages stay pending (sent once it is configured).
pub async fn deliver_due(state: &web::Data<AppState>) -> Result<String, String> {
    let Some(cfg) = state.config.smtp.clone() else {
        return Ok("SMTP is not configured: messages stay pending".into());
    };
    let (st, dir) = (state.clone(), state.config.attachments_dir.clone());
    let files = dir.clone();
    let ready = web::block(move || st.db.read(&Stats::default(), |c| due(c, &files)))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    if ready.is_empty() {
        return Ok("nothing due".into());
    }
    let c = cfg.clone();
    let outcomes = web::block(move || -> Result<Vec<(MessageRow, Outcome)>, String> {
        let smtp = transport(&c)?;
        Ok(ready
            .into_iter()
            .map(|m| {
                let o = attempt(&c, &dir, &smtp, &m);
                (m.row, o)
            })
            .collect())
    })
    .await
    .map_err(|e| e.to_string())??;
    let base = cfg.retry_base_seconds;
    let (sent, not) = crate::jobs::record_outcomes(state, outcomes, move |c, (row, o)| record(c, row, o, base)).await?;
    Ok(format!("{sent} sent, {not} not sent"))
}

// ---- endpoints ---------------------------------------------------------------------------------

async fn send(auth: Auth, kind: DocumentKind, id: i64, req: SendRequest) -> Result<HttpResponse, Problem> {
    if auth.db_state().config.smtp.is_none() {
        return Err(Problem::from(DomainError::conflict(
            "email_not_configured",
            "no SMTP server is configured (ORDO_SMTP_HOST): nothing can be sent",
        )));
    }
    if let Some(l) = &req.language {
        if !l.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(DomainError::field("language", "invalid", "two lower-case letters (ISO 639-1)").into());
        }
    }
    let m = auth
        .write(move |c, caller| {
            let who = caller.principal.name.clone();
            enqueue(c, caller, kind, id, req, &who)
        })
        .await?;
    Ok(json_response(StatusCode::ACCEPTED, &m, None))
}

macro_rules! send_endpoint {
    ($name:ident, $kind:expr, $op:literal, $path:literal, $summary:literal $(, $extra:literal)?) => {
        #[utoipa::path(tag = "documents", operation_id = $op, summary = $summary,
            description = concat!("Queues the document for mailing as PDF (invoices and credit notes with their UBL XML when the customer has `e_invoice`; with `attach_item_documents`, the files of its items flagged `send_with_offers`): `202`, and `GET /outbox?document=` shows the SMTP answers. Recipients default to the document's contact, else the customer's e-mail (422 `to` when neither has one); a draft invoice is 422 `not_posted`, a cancelled document 422 `cancelled`. 409 `email_not_configured` without an SMTP server. An agent sends their customers' documents only (404 otherwise).", $($extra)?),
            params(("id" = i64, Path, description = "Id")),
            request_body(content = SendRequest, description = "Recipients, text and language; `{}` for the defaults"),
            responses((status = 202, description = "Queued", body = OutboxMessage)))]
        #[post($path)]
        pub async fn $name(auth: Auth, id: web::Path<i64>, body: ValidJson<SendRequest>) -> Result<HttpResponse, Problem> {
            send(auth, $kind, id.into_inner(), body.0).await
        }
    };
}
send_endpoint!(
    send_invoice,
    DocumentKind::Invoice,
    "sendInvoice",
    "/invoices/{id}/send",
    "Mail an invoice or credit note"
);
send_endpoint!(
    send_order,
    DocumentKind::SalesOrder,
    "sendSalesOrder",
    "/sales-orders/{id}/send",
    "Mail an order confirmation"
);
send_endpoint!(
    send_blanket,
    DocumentKind::BlanketOrder,
    "sendBlanketOrder",
    "/blanket-orders/{id}/send",
    "Mail a blanket order"
);
send_endpoint!(
    email_quotation,
    DocumentKind::Quotation,
    "emailQuotation",
    "/quotations/{id}/email",
    "Mail a quotation with its items' documents",
    " A quotation goes with its items' `send_with_offers` files unless `attach_item_documents` is `false`; a draft is offered in the same transaction (`draft → sent`, as `POST /quotations/{id}/send`, which only records the state)."
);

/// Messages in the outbox, newest last: status, attempts, the SMTP answers and the next
/// retry. An agent sees their customers' messages only.
#[utoipa::path(tag = "documents", operation_id = "listOutbox", params(OutboxQuery),
    responses((status = 200, description = "A page", body = Page<OutboxMessage>)))]
#[get("/outbox")]
pub async fn list_outbox(auth: Auth, q: StrictQuery<OutboxQuery>) -> Result<HttpResponse, Problem> {
    let q = q.0;
    let page = crate::common::page(q.limit, q.cursor.as_deref())?;
    auth.list(page, move |c, caller, page| list(c, caller, &q, page)).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(send_invoice).service(send_order).service(send_blanket).service(email_quotation).service(list_outbox);
}
