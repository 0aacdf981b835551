//! Printable documents: quotations, order confirmations, blanket orders, invoices and
//! credit notes rendered to HTML from templates (minijinja). Each kind ships a default
//! template; `/document-templates` replaces it per kind and language (history in the
//! audit trail). A template sees `document` (the document as the API returns it, with
//! its customer, contact and line items expanded), `customer`, `company` (`GET
//! /company`), `lang`, `rtl` and `labels`, and the filters `money(currency)`, `number` and `date_format`, which
//! format per the language from the decimal strings, never through floats. Templates
//! cannot read files or the network, run on a fuel budget and an output limit.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use ordo_core::expand::Expand;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, DomainError, FieldError, Page, Permission, Result as DResult};
use ordo_db::audit;
use ordo_db::schema::document_templates;
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::common::{history_page, HistoryEntry, PageQuery};
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

pub mod letters;
pub mod pdf;
mod ubl;

const DEFAULT: &str = include_str!("../../templates/document.html.j2");
const DELIVERY_HTML: &str = include_str!("../../templates/delivery.html.j2");
const DELIVERY_PDF: &str = include_str!("../../templates/delivery.typ.j2");
const STATEMENT_HTML: &str = include_str!("../../templates/statement.html.j2");
const STATEMENT_PDF: &str = include_str!("../../templates/statement.typ.j2");
const DUNNING_HTML: &str = include_str!("../../templates/dunning.html.j2");
const DUNNING_PDF: &str = include_str!("../../templates/dunning.typ.j2");

/// The built-in template of a kind and format.
fn builtin(kind: DocumentKind, format: TemplateFormat) -> &'static str {
    match (kind, format) {
        (DocumentKind::DeliveryNote, TemplateFormat::Html) => DELIVERY_HTML,
        (DocumentKind::DeliveryNote, TemplateFormat::Pdf) => DELIVERY_PDF,
        (DocumentKind::Statement, TemplateFormat::Html) => STATEMENT_HTML,
        (DocumentKind::Statement, TemplateFormat::Pdf) => STATEMENT_PDF,
        (DocumentKind::DunningLetter, TemplateFormat::Html) => DUNNING_HTML,
        (DocumentKind::DunningLetter, TemplateFormat::Pdf) => DUNNING_PDF,
        (_, TemplateFormat::Html) => DEFAULT,
        (_, TemplateFormat::Pdf) => pdf::DEFAULT,
    }
}
/// Work a template may do per rendering (minijinja fuel: roughly instructions).
const FUEL: u64 = 2_000_000;
/// Largest rendered document.
const MAX_OUTPUT: usize = 5 * 1024 * 1024;
/// What a template may name at its top level.
const GLOBALS: [&str; 6] = ["document", "customer", "company", "lang", "rtl", "labels"];

/// What a template produces: `html` (minijinja → HTML) or `pdf` (minijinja → Typst
/// markup, typeset to PDF in process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateFormat {
    #[default]
    Html,
    Pdf,
}

impl TemplateFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Pdf => "pdf",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Html, Self::Pdf].into_iter().find(|f| f.as_str() == s)
    }
}

/// A printable document kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Quotation,
    SalesOrder,
    BlanketOrder,
    Invoice,
    CreditNote,
    /// A delivery note (`GET /deliveries/{id}/document`).
    DeliveryNote,
    /// A customer's statement of account for a period (`GET /customers/{id}/statement`).
    Statement,
    /// A customer's payment reminder from a recorded collection run
    /// (`GET /customers/{id}/dunning-letter`).
    DunningLetter,
}

impl DocumentKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Quotation => "quotation",
            Self::SalesOrder => "sales_order",
            Self::BlanketOrder => "blanket_order",
            Self::Invoice => "invoice",
            Self::CreditNote => "credit_note",
            Self::DeliveryNote => "delivery_note",
            Self::Statement => "statement",
            Self::DunningLetter => "dunning_letter",
        }
    }
    /// The name of a printed file of the kind: `{stem}-{id}.pdf`.
    fn file_stem(&self) -> &'static str {
        match self {
            Self::DeliveryNote => "delivery",
            Self::DunningLetter => "reminder",
            k => k.as_str(),
        }
    }
    /// The document's title: (en, pl, ru, he).
    fn title(&self) -> [&'static str; 4] {
        match self {
            Self::Quotation => ["Quotation", "Oferta", "Коммерческое предложение", "הצעת מחיר"],
            Self::SalesOrder => {
                ["Order confirmation", "Potwierdzenie zamówienia", "Подтверждение заказа", "אישור הזמנה"]
            }
            Self::BlanketOrder => ["Blanket order", "Umowa ramowa", "Рамочный договор", "הזמנת מסגרת"],
            Self::Invoice => ["Invoice", "Faktura", "Счёт-фактура", "חשבונית"],
            Self::CreditNote => ["Credit note", "Faktura korygująca", "Корректировочный счёт", "חשבונית זיכוי"],
            Self::DeliveryNote => ["Delivery note", "Dokument dostawy (WZ)", "Накладная", "תעודת משלוח"],
            Self::Statement => ["Statement of account", "Wyciąg z konta", "Акт сверки", "דף חשבון"],
            Self::DunningLetter => ["Payment reminder", "Wezwanie do zapłaty", "Напоминание об оплате", "תזכורת תשלום"],
        }
    }
}

/// Which of the (en, pl, ru, he) label texts a language reads (English for others).
fn label_index(lang: &str) -> usize {
    match lang {
        "pl" => 1,
        "ru" => 2,
        "he" => 3,
        _ => 0,
    }
}

/// Labels of the default templates in English, Polish, Russian and Hebrew (English
/// for other languages).
fn labels(kind: DocumentKind, lang: &str) -> Value {
    let at = label_index(lang);
    let l = |t: [&str; 4]| Value::String(t[at].to_string());
    const LABELS: &[(&str, [&str; 4])] = &[
        ("date", ["Date", "Data", "Дата", "תאריך"]),
        ("due_date", ["Due date", "Termin płatności", "Срок оплаты", "תאריך פירעון"]),
        ("valid_until", ["Valid until", "Ważna do", "Действительно до", "בתוקף עד"]),
        ("customer_po", ["Your order", "Wasze zamówienie", "Ваш заказ", "הזמנתכם"]),
        ("currency", ["Currency", "Waluta", "Валюта", "מטבע"]),
        ("tax_id", ["Tax ID", "NIP", "ИНН", "מספר עוסק"]),
        ("item", ["Item", "Pozycja", "Позиция", "פריט"]),
        ("quantity", ["Quantity", "Ilość", "Количество", "כמות"]),
        ("unit_price", ["Unit price", "Cena jedn.", "Цена за ед.", "מחיר ליחידה"]),
        ("discount", ["Discount", "Rabat", "Скидка", "הנחה"]),
        ("tax", ["Tax", "VAT", "НДС", "מע״מ"]),
        ("net", ["Net", "Netto", "Без НДС", "נטו"]),
        ("gross", ["Total", "Brutto", "Итого", "סה״כ"]),
        ("shipping", ["Shipping", "Wysyłka", "Доставка", "משלוח"]),
        ("bank", ["Bank", "Bank", "Банк", "בנק"]),
        ("page", ["Page", "Strona", "Страница", "עמוד"]),
        ("seller", ["Seller", "Sprzedawca", "Продавец", "מוכר"]),
        ("buyer", ["Buyer", "Nabywca", "Покупатель", "קונה"]),
        ("notes", ["Notes", "Uwagi", "Примечания", "הערות"]),
        ("period", ["Period", "Okres", "Период", "תקופה"]),
        ("document", ["Document", "Dokument", "Документ", "מסמך"]),
        ("amount", ["Amount", "Kwota", "Сумма", "סכום"]),
        ("balance", ["Balance", "Saldo", "Сальдо", "יתרה"]),
        ("opening_balance", ["Opening balance", "Saldo początkowe", "Начальное сальдо", "יתרת פתיחה"]),
        ("closing_balance", ["Closing balance", "Saldo końcowe", "Конечное сальдо", "יתרת סגירה"]),
        ("days_overdue", ["Days overdue", "Dni po terminie", "Дней просрочки", "ימי פיגור"]),
        ("open_amount", ["Open amount", "Do zapłaty", "К оплате", "יתרה לתשלום"]),
        ("fee", ["Reminder fee", "Opłata", "Сбор", "עמלה"]),
        ("order", ["Order", "Zamówienie", "Заказ", "הזמנה"]),
        ("ship_to", ["Ship to", "Adres dostawy", "Адрес доставки", "כתובת משלוח"]),
        ("warehouse", ["From", "Magazyn", "Склад", "ממחסן"]),
        ("carrier", ["Carrier", "Przewoźnik", "Перевозчик", "מוביל"]),
        ("tracking", ["Tracking", "Numer przesyłki", "Трек-номер", "מספר מעקב"]),
        ("packages", ["Packages", "Paczki", "Места", "חבילות"]),
        ("weight", ["Weight", "Waga", "Вес", "משקל"]),
    ];
    const KINDS: &[(&str, [&str; 4])] = &[
        ("invoice", ["Invoice", "Faktura", "Счёт", "חשבונית"]),
        ("credit_note", ["Credit note", "Korekta", "Корректировка", "זיכוי"]),
        ("payment", ["Payment", "Wpłata", "Оплата", "תשלום"]),
        ("bounced_cheque", ["Bounced cheque", "Czek bez pokrycia", "Возврат чека", "צ׳ק חוזר"]),
        ("refund", ["Refund", "Zwrot", "Возврат", "החזר"]),
    ];
    let mut labels: serde_json::Map<String, Value> = LABELS.iter().map(|(k, t)| (k.to_string(), l(*t))).collect();
    labels.insert("title".into(), l(kind.title()));
    labels.insert("kinds".into(), Value::Object(KINDS.iter().map(|(k, t)| (k.to_string(), l(*t))).collect()));
    Value::Object(labels)
}

/// Decimal and thousands separators of a language.
fn separators(lang: &str) -> (&'static str, &'static str) {
    match lang {
        "pl" | "ru" | "fr" | "cs" | "sk" | "uk" | "sv" | "fi" | "nb" => (",", "\u{a0}"),
        "de" | "it" | "es" | "nl" | "pt" | "da" | "tr" | "id" => (",", "."),
        _ => (".", ","),
    }
}

/// Formats a decimal string (`-1234.5`) per the language: grouping and separator,
/// at least `min_decimals` decimals. Text only: no floating point on the way.
pub fn format_decimal(v: &str, lang: &str, min_decimals: usize) -> String {
    let (dec, group) = separators(lang);
    let (neg, digits) = match v.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.trim()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < min_decimals {
        frac.push('0');
    }
    let int = if int.is_empty() { "0" } else { int };
    let mut grouped = String::new();
    for (n, c) in int.chars().enumerate() {
        if n > 0 && (int.len() - n) % 3 == 0 {
            grouped.push_str(group);
        }
        grouped.push(c);
    }
    let mut out = if neg { format!("-{grouped}") } else { grouped };
    if !frac.is_empty() {
        out.push_str(dec);
        out.push_str(&frac);
    }
    out
}

fn lang_of(state: &minijinja::State) -> String {
    state.lookup("lang").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "en".into())
}

/// The template environment: default filters plus the formatting ones, HTML
/// auto-escaping, a fuel budget, no loader (no files).
fn environment(undefined: UndefinedBehavior, format: TemplateFormat) -> Environment<'static> {
    let mut env = Environment::new();
    match format {
        TemplateFormat::Html => env.set_auto_escape_callback(|_| AutoEscape::Html),
        TemplateFormat::Pdf => {
            // Values enter Typst markup as string literals, so data can never be
            // read as markup or code (a customer named `#panic()` stays text).
            env.set_auto_escape_callback(|_| AutoEscape::None);
            env.set_formatter(|out, _state, value| {
                if value.is_undefined() || value.is_none() {
                    return Ok(());
                }
                if value.is_safe() {
                    return write!(out, "{value}").map_err(minijinja::Error::from);
                }
                let text = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                out.write_str(&pdf::literal(&text)).map_err(minijinja::Error::from)
            });
        }
    }
    env.set_undefined_behavior(undefined);
    env.set_fuel(Some(FUEL));
    env.add_filter("money", |state: &minijinja::State, v: minijinja::Value, currency: Option<String>| -> String {
        let lang = lang_of(state);
        let digits = currency
            .as_deref()
            .and_then(ordo_core::Currency::from_code)
            .map(|c| usize::from(c.minor_units()))
            .unwrap_or(2);
        let s = format_decimal(&v.to_string(), &lang, digits);
        match currency {
            Some(c) => format!("{s}\u{a0}{c}"),
            None => s,
        }
    });
    env.add_filter("number", |state: &minijinja::State, v: minijinja::Value| -> String {
        format_decimal(&v.to_string(), &lang_of(state), 0)
    });
    env.add_filter("date_format", |state: &minijinja::State, v: minijinja::Value| -> String {
        let s = v.to_string();
        let lang = lang_of(state);
        match (s.get(0..4), s.get(5..7), s.get(8..10)) {
            (Some(y), Some(m), Some(d)) if lang != "en" && s.len() == 10 => format!("{d}.{m}.{y}"),
            _ => s,
        }
    });
    env
}

/// Why a template cannot be stored, naming its line.
fn template_error(e: &minijinja::Error) -> DomainError {
    let at = e.line().map(|l| format!("line {l}: ")).unwrap_or_default();
    DomainError::Validation(vec![FieldError::new(
        "body",
        "template_error",
        format!("{at}{}", e.detail().unwrap_or(&e.kind().to_string())),
    )])
}

/// Checks a template before it is stored: it parses, names only what templates see,
/// and renders a sample document within the fuel budget and the output limit (a PDF
/// template is also typeset: Typst's errors come back with their line).
fn check_template(kind: DocumentKind, format: TemplateFormat, body: &str) -> DResult<()> {
    let env = environment(UndefinedBehavior::Lenient, format);
    let t = env.template_from_str(body).map_err(|e| template_error(&e))?;
    let mut unknown: Vec<String> =
        t.undeclared_variables(false).into_iter().filter(|v| !GLOBALS.contains(&v.as_str())).collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(DomainError::Validation(vec![FieldError::new(
            "body",
            "unknown_variable",
            format!("unknown variable(s) {}: a template sees {}", unknown.join(", "), GLOBALS.join(", ")),
        )]));
    }
    // One sample with every kind's fields: sales documents, statements, reminders.
    let sample = json!({
        "document": {"number": "SAMPLE-1", "date": "2026-01-31", "currency": "EUR", "from": "2026-01-01", "to": "2026-01-31",
            "opening_balance": "0.00", "closing_balance": "24.60", "carrier": "DHL", "tracking_number": "JD0001",
            "packages": 1, "weight": "2.5", "note": {"order_number": "SO-1", "customer_po": "PO-1", "warehouse_name": "Main",
                "warehouse_code": "MAIN", "ship_to": {"line1": "Street 1", "city": "City", "postal_code": "00-001", "country": "PL"}}, "as_of": "2026-02-15", "level": 1, "letter": "Please pay.",
            "fees": "0.00", "entries": [{"date": "2026-01-31", "kind": "invoice", "number": "SAMPLE-1", "due_date": "2026-02-14",
                "amount": "24.60", "balance": "24.60"}],
            "invoices": [{"number": "SAMPLE-1", "due_date": "2026-01-31", "days_overdue": 15, "currency": "EUR",
                "open_amount": "24.60", "level": 1}],
            "lines": [
            {"position": 1, "description": "Sample", "quantity": "2", "unit_price": "10.00", "discount": "0.00",
             "net": "20.00", "tax": "4.60", "gross": "24.60", "tax_percent": "23", "item": {"sku": "S-1", "name": "Sample"}}],
            "totals": {"net": "20.00", "tax": "4.60", "gross": "24.60", "shipping": "0.00", "discount": "0.00", "taxes": []}},
        "customer": {"name": "Sample"}, "company": {"legal_name": "Sample", "default_language": "en"},
        "lang": "en", "rtl": false, "labels": labels(kind, "en"),
    });
    // With a logo (a 1×1 PNG), so a template that shows it is typeset too.
    let logo = pdf::sample_logo();
    let mut sample = sample;
    sample["company"]["logo"] = logo_value(format, "image/png", &logo);
    let out = t.render(sample).map_err(|e| template_error(&e))?;
    if out.len() > MAX_OUTPUT {
        return Err(DomainError::field("body", "too_large", format!("renders more than {MAX_OUTPUT} bytes")));
    }
    if format == TemplateFormat::Pdf {
        pdf::typeset(out, Some(logo)).map_err(|e| DomainError::field("body", "template_error", e))?;
    }
    Ok(())
}

// ---- templates resource ------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = document_templates)]
struct TemplateRow {
    id: i64,
    kind: String,
    format: String,
    language: String,
    body: String,
    version: i64,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// A template replacing the built-in one for a kind and language.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentTemplate {
    pub id: i64,
    pub kind: DocumentKind,
    pub format: TemplateFormat,
    /// ISO 639-1 (`en`, `pl`, `ru`, `he`).
    pub language: String,
    pub body: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl TemplateRow {
    fn to_model(&self) -> DResult<DocumentTemplate> {
        let kind: DocumentKind = serde_json::from_value(Value::String(self.kind.clone()))
            .map_err(|_| DomainError::Internal(format!("template {}: kind", self.id)))?;
        let format = TemplateFormat::parse(&self.format)
            .ok_or_else(|| DomainError::Internal(format!("template {}: format", self.id)))?;
        Ok(DocumentTemplate {
            id: self.id,
            kind,
            format,
            language: self.language.clone(),
            body: self.body.clone(),
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
}

/// `POST /document-templates`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateCreate {
    pub kind: DocumentKind,
    /// Default `html`.
    #[serde(default)]
    pub format: TemplateFormat,
    /// ISO 639-1, lower case.
    #[validate(length(equal = 2))]
    #[schema(pattern = "^[a-z]{2}$")]
    pub language: String,
    #[validate(length(min = 1, max = 200000))]
    #[schema(min_length = 1, max_length = 200000)]
    pub body: String,
}

/// `PATCH /document-templates/{id}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    #[validate(length(min = 1, max = 200000))]
    #[schema(min_length = 1, max_length = 200000)]
    pub body: String,
}

const ENTITY: &str = "document_template";

fn find(conn: &mut DbConnection, id: i64) -> DResult<TemplateRow> {
    document_templates::table
        .find(id)
        .select(TemplateRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("document template", id))
}

fn create(conn: &mut DbConnection, caller: &Caller, t: TemplateCreate) -> DResult<DocumentTemplate> {
    caller.require(Permission::SalesSetupWrite)?;
    if !t.language.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(DomainError::field("language", "invalid", "two lower-case letters (ISO 639-1)"));
    }
    check_template(t.kind, t.format, &t.body)?;
    let taken: i64 = document_templates::table
        .filter(document_templates::kind.eq(t.kind.as_str()))
        .filter(document_templates::format.eq(t.format.as_str()))
        .filter(document_templates::language.eq(&t.language))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(DomainError::conflict(
            "duplicate_template",
            format!("a {} {} template in {} exists: change it instead", t.kind.as_str(), t.format.as_str(), t.language),
        ));
    }
    let ts = now();
    let row: TemplateRow = diesel::insert_into(document_templates::table)
        .values((
            document_templates::kind.eq(t.kind.as_str()),
            document_templates::format.eq(t.format.as_str()),
            document_templates::language.eq(&t.language),
            document_templates::body.eq(&t.body),
            document_templates::version.eq(1),
            document_templates::created_at.eq(ts),
            document_templates::updated_at.eq(ts),
        ))
        .returning(document_templates::all_columns)
        .get_result(conn)?;
    let v = row.to_model()?;
    audit::record(conn, caller, ENTITY, v.id, "create", &to_json(&v))?;
    Ok(v)
}

fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    body: String,
) -> DResult<DocumentTemplate> {
    caller.require(Permission::SalesSetupWrite)?;
    ordo_db::lock::rows(conn, "document_templates", &[id])?;
    let current = find(conn, id)?;
    check_version(if_match, current.version)?;
    let model = current.to_model()?;
    check_template(model.kind, model.format, &body)?;
    let row: TemplateRow = diesel::update(
        document_templates::table
            .filter(document_templates::id.eq(id))
            .filter(document_templates::version.eq(current.version)),
    )
    .set((
        document_templates::body.eq(&body),
        document_templates::version.eq(current.version + 1),
        document_templates::updated_at.eq(now()),
    ))
    .returning(document_templates::all_columns)
    .get_result(conn)
    .optional()?
    .ok_or_else(|| DomainError::stale_version(current.version))?;
    let v = row.to_model()?;
    audit::record(conn, caller, ENTITY, id, "update", &audit::diff(&to_json(&current.to_model()?), &to_json(&v)))?;
    Ok(v)
}

fn remove(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> DResult<()> {
    caller.require(Permission::SalesSetupWrite)?;
    let current = find(conn, id)?;
    check_version(if_match, current.version)?;
    diesel::delete(document_templates::table.find(id)).execute(conn)?;
    audit::record(conn, caller, ENTITY, id, "delete", &to_json(&current.to_model()?))?;
    Ok(())
}

/// The template for a kind and language: the stored one, else the built-in one.
fn template_for(conn: &mut DbConnection, kind: DocumentKind, format: TemplateFormat, lang: &str) -> DResult<String> {
    let body: Option<String> = document_templates::table
        .filter(document_templates::kind.eq(kind.as_str()))
        .filter(document_templates::format.eq(format.as_str()))
        .filter(document_templates::language.eq(lang))
        .select(document_templates::body)
        .first(conn)
        .optional()?;
    Ok(body.unwrap_or_else(|| builtin(kind, format).to_string()))
}

/// The document as `GET` answers it (scoped: 404 otherwise), with its customer,
/// contact and line items embedded, as a template sees it.
fn expanded<D>(conn: &mut DbConnection, caller: &Caller, id: i64) -> DResult<Value>
where
    D: ordo_sales_docs::core::Document,
    D::Model: ordo_sales_docs::expand::Expandable,
{
    let mut v = ordo_sales_docs::core::get::<D>(conn, caller, id)?;
    let expand = [Expand::Customer, Expand::Contact, Expand::LinesItem];
    ordo_sales_docs::expand::apply(conn, std::slice::from_mut(&mut v), &expand)?;
    Ok(to_json(&v))
}

/// A document of a kind as a template sees it (the caller's scope: 404 otherwise).
pub(crate) fn expanded_for(conn: &mut DbConnection, caller: &Caller, kind: DocumentKind, id: i64) -> DResult<Value> {
    match kind {
        DocumentKind::Quotation => expanded::<ordo_sales_docs::quotations::QuotationRow>(conn, caller, id),
        DocumentKind::SalesOrder => expanded::<ordo_sales_docs::orders::OrderRow>(conn, caller, id),
        DocumentKind::BlanketOrder => expanded::<ordo_sales_docs::blanket::BlanketRow>(conn, caller, id),
        DocumentKind::Invoice | DocumentKind::CreditNote => {
            expanded::<ordo_billing::invoices::InvoiceRow>(conn, caller, id)
        }
        DocumentKind::DeliveryNote => ordo_fulfillment::deliveries::note(conn, caller, id),
        DocumentKind::Statement | DocumentKind::DunningLetter => {
            Err(DomainError::Internal(format!("a {} is not a stored document", kind.as_str())))
        }
    }
}

/// A kind's title in a language (`Faktura`).
pub(crate) fn title(kind: DocumentKind, lang: &str) -> String {
    kind.title()[label_index(lang)].to_string()
}

/// How to print: the kind, the format, the language (default: the company's) and where
/// the company's logo file lives.
pub(crate) struct Print {
    pub kind: DocumentKind,
    pub format: TemplateFormat,
    pub lang: Option<String>,
    pub files: std::path::PathBuf,
}

impl Print {
    /// Printing in a negotiated format (HTML or PDF) for a request.
    fn negotiated(auth: &Auth, kind: DocumentKind, format: Format, lang: Option<String>) -> Self {
        let format = if format == Format::Pdf { TemplateFormat::Pdf } else { TemplateFormat::Html };
        Print { kind, format, lang, files: auth.db_state().config.attachments_dir.clone() }
    }
}

/// A filled template: the HTML, or the Typst markup with the logo it may show.
pub(crate) struct Filled {
    pub source: String,
    pub logo: Option<Vec<u8>>,
}

/// Where the Typst markup finds the company's logo.
const LOGO_FILE: &str = "/logo";

/// Fills the template for a document the caller may see (404 otherwise): HTML, or the
/// Typst markup of the PDF.
pub(crate) fn render(conn: &mut DbConnection, caller: &Caller, print: Print, id: i64) -> DResult<Filled> {
    let document = expanded_for(conn, caller, print.kind, id)?;
    let kind = match (print.kind, document["kind"].as_str()) {
        (DocumentKind::Invoice, Some("credit_note")) => DocumentKind::CreditNote,
        (k, _) => k,
    };
    let customer_id = document["customer_id"].as_i64().unwrap_or_default();
    fill(conn, caller, &Print { kind, ..print }, document, customer_id)
}

/// Fills the template of a kind and format with a document the caller may see.
pub(crate) fn fill(
    conn: &mut DbConnection,
    caller: &Caller,
    print: &Print,
    document: Value,
    customer_id: i64,
) -> DResult<Filled> {
    let (kind, format) = (print.kind, print.format);
    let customer = to_json(&ordo_crm::scope::customer(conn, caller.scope(), customer_id)?.to_model()?);
    let company = crate::company::load(conn)?;
    let lang = print.lang.clone().unwrap_or_else(|| company.data.default_language.clone());
    let lang = lang.as_str();
    let body = template_for(conn, kind, format, lang)?;
    let env = environment(UndefinedBehavior::Lenient, format);
    let t = env.template_from_str(&body).map_err(|e| template_error(&e))?;
    let logo = crate::attachments::company_logo(conn, &print.files)?;
    let mut company = to_json(&company.data);
    if let Some((content_type, bytes)) = &logo {
        company["logo"] = logo_value(format, content_type, bytes);
    }
    let ctx = json!({"document": document, "customer": customer, "company": company, "lang": lang,
        "rtl": matches!(lang, "he" | "ar"), "labels": labels(kind, lang)});
    let out = t.render(ctx).map_err(|e| {
        let at = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
        DomainError::rule("template_error", format!("the {} template failed{at}: {e}", kind.as_str()))
    })?;
    if out.len() > MAX_OUTPUT {
        return Err(DomainError::rule("template_error", format!("the document is larger than {MAX_OUTPUT} bytes")));
    }
    let logo = if format == TemplateFormat::Pdf { logo.map(|(_, b)| b) } else { None };
    Ok(Filled { source: out, logo })
}

/// `company.logo` as a template sees it: a `data:` URI for HTML (the page stands
/// alone), the file Typst reads for PDF.
fn logo_value(format: TemplateFormat, content_type: &str, bytes: &[u8]) -> Value {
    match format {
        TemplateFormat::Html => {
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            json!({"content_type": content_type, "data_uri": format!("data:{content_type};base64,{data}")})
        }
        TemplateFormat::Pdf => json!({"content_type": content_type, "file": LOGO_FILE}),
    }
}

// ---- endpoints ---------------------------------------------------------------------------------

/// Replace the built-in template of a kind for a language. The body is checked before
/// it is stored: it must parse (422 `template_error` naming the line), name only
/// `document`, `customer`, `company`, `lang`, `rtl` and `labels` (422 `unknown_variable`), and
/// render a sample within the work and size limits. `document` is the document as the
/// API returns it (`GET /invoices/{id}` etc.) with `expanded.customer`, `expanded.contact`
/// and each line's `item`; `customer` is the Customer; `company` is the Company, with
/// `logo` when it has one (`data_uri` in HTML, `file` for Typst's `image` in PDF markup). Filters: `money(currency)`,
/// `number`, `date_format` (per `lang`).
#[utoipa::path(tag = "documents", operation_id = "createDocumentTemplate", request_body = TemplateCreate,
    responses((status = 201, description = "Created", body = DocumentTemplate, headers(("ETag" = String), ("Location" = String)))))]
#[post("/document-templates")]
pub async fn create_template(auth: Auth, body: ValidJson<TemplateCreate>) -> Result<HttpResponse, Problem> {
    let input = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| create(c, caller, input),
        |v: &DocumentTemplate| ReplyMeta {
            location: Some(format!("/api/v1/document-templates/{}", v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// The stored templates (kinds without one use the built-in template).
#[utoipa::path(tag = "documents", operation_id = "listDocumentTemplates", params(PageQuery),
    responses((status = 200, description = "A page", body = Page<DocumentTemplate>)))]
#[get("/document-templates")]
pub async fn list_templates(auth: Auth, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let page = q.0.page()?;
    auth.list(page, |c, caller, page| {
        caller.require(Permission::SalesSetupRead)?;
        let q = document_templates::table.select(TemplateRow::as_select()).into_boxed();
        let rows = ordo_db::keyset_page!(c, q, page, document_templates::id => |r: &TemplateRow| r.id);
        let data = rows.data.iter().map(TemplateRow::to_model).collect::<DResult<Vec<_>>>()?;
        Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
    })
    .await
}

/// A stored template.
#[utoipa::path(tag = "documents", operation_id = "getDocumentTemplate", params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Found", body = DocumentTemplate, headers(("ETag" = String)))))]
#[get("/document-templates/{id}")]
pub async fn get_template(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let v = auth
        .read(move |c, caller| {
            caller.require(Permission::SalesSetupRead)?;
            find(c, id)?.to_model()
        })
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Change a template's body (checked like a new one; the old body stays in the history).
#[utoipa::path(tag = "documents", operation_id = "updateDocumentTemplate", params(("id" = i64, Path, description = "Id")),
    request_body(content = TemplatePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = DocumentTemplate, headers(("ETag" = String)))))]
#[patch("/document-templates/{id}")]
pub async fn update_template(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<TemplatePatch>,
) -> Result<HttpResponse, Problem> {
    let (id, b) = (id.into_inner(), body.0.body);
    let v = auth.write(move |c, caller| update(c, caller, id, if_match.0, b)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Delete a template: its kind and language use the built-in one again.
#[utoipa::path(tag = "documents", operation_id = "deleteDocumentTemplate", params(("id" = i64, Path, description = "Id")),
    responses((status = 204, description = "Deleted")))]
#[delete("/document-templates/{id}")]
pub async fn delete_template(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.write(move |c, caller| remove(c, caller, id, if_match.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every version of a template's body (the audit trail).
#[utoipa::path(tag = "documents", operation_id = "getDocumentTemplateHistory",
    params(("id" = i64, Path, description = "Id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>)))]
#[get("/document-templates/{id}/history")]
pub async fn template_history(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| {
        caller.require(Permission::SalesSetupRead)?;
        find(c, id)?;
        audit::history(c, ENTITY, id, page).map(history_page)
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// ISO 639-1 language of the document (default: the company's `default_language`):
    /// its template, labels and number formatting; `he` and `ar` read right to left.
    pub language: Option<String>,
}

/// What a document endpoint can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
    Pdf,
    Ubl,
    /// The same UBL XML labelled `text/xml` (RFC 7303), for clients that read text.
    UblText,
}

impl Format {
    fn media_type(&self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Html => "text/html",
            Format::Pdf => "application/pdf",
            Format::Ubl => "application/xml",
            Format::UblText => "text/xml",
        }
    }
}

/// Picks the format the request prefers (`Accept` with q-values; no header, `*/*`
/// and `text/*` mean the first available one) among `available`; 406 naming them
/// otherwise.
pub fn negotiate(req: &HttpRequest, available: &[Format]) -> Result<Format, Problem> {
    let accept = req.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or("*/*").to_ascii_lowercase();
    let mut best: Option<(u32, usize, Format)> = None;
    for (pos, part) in accept.split(',').enumerate() {
        let mut params = part.split(';');
        let range = params.next().unwrap_or("").trim();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<rust_decimal::Decimal>().ok())
            .map(|q| (q * rust_decimal::Decimal::from(1000)).trunc().try_into().unwrap_or(0u32))
            .unwrap_or(1000);
        if q == 0 {
            continue;
        }
        let found = available.iter().copied().find(|f| {
            let t = f.media_type();
            range == t
                || range.is_empty()
                || range == "*/*"
                || range.strip_suffix("/*").is_some_and(|major| t.starts_with(&format!("{major}/")))
        });
        if let Some(f) = found {
            // Higher q first; at equal q an exact type beats a wildcard, then order.
            let exact = u32::from(!range.contains('*') && !range.is_empty());
            let score = q * 2 + exact;
            if best.is_none_or(|(s, p, _)| score > s || (score == s && pos < p)) {
                best = Some((score, pos, f));
            }
        }
    }
    best.map(|(_, _, f)| f).ok_or_else(|| {
        let names: Vec<&str> = available.iter().map(Format::media_type).collect();
        Problem::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            format!("this document is available as {}", names.join(", ")),
        )
    })
}

pub(crate) fn check_language(lang: Option<String>) -> Result<Option<String>, Problem> {
    let lang = lang.map(|l| l.to_ascii_lowercase());
    if lang.as_ref().is_some_and(|l| l.len() != 2 || !l.chars().all(|c| c.is_ascii_lowercase())) {
        return Err(DomainError::field("language", "invalid", "two letters (ISO 639-1)").into());
    }
    Ok(lang)
}

/// The UBL XML of an invoice or credit note the caller may see (404 otherwise).
pub(crate) fn e_invoice(conn: &mut DbConnection, caller: &Caller, id: i64) -> DResult<String> {
    let mut doc = ordo_sales_docs::core::get::<ordo_billing::invoices::InvoiceRow>(conn, caller, id)?;
    ordo_sales_docs::expand::apply(conn, std::slice::from_mut(&mut doc), &[Expand::LinesItem])?;
    let customer = ordo_crm::scope::customer(conn, caller.scope(), doc.customer_id)?.to_model()?;
    let company = crate::company::load(conn)?;
    ubl::render(conn, &doc, &customer, &company.data)
}

fn xml_response(xml: String, number_hint: i64, format: Format) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(format!("{}; charset=utf-8", format.media_type()))
        .insert_header(("Content-Disposition", format!("inline; filename=\"invoice-{number_hint}.xml\"")))
        .body(xml)
}

/// Answers by content negotiation among the formats of the kind.
pub(crate) async fn document(
    auth: Auth,
    req: HttpRequest,
    kind: DocumentKind,
    id: i64,
    q: DocumentQuery,
) -> Result<HttpResponse, Problem> {
    let formats: &[Format] = if kind == DocumentKind::Invoice {
        &[Format::Html, Format::Pdf, Format::Ubl, Format::UblText]
    } else {
        &[Format::Html, Format::Pdf]
    };
    let format = negotiate(&req, formats)?;
    let lang = check_language(q.language)?;
    match format {
        Format::Ubl | Format::UblText => {
            let xml = auth.read(move |c, caller| e_invoice(c, caller, id)).await?;
            Ok(xml_response(xml, id, format))
        }
        Format::Html | Format::Pdf | Format::Json => {
            let print = Print::negotiated(&auth, kind, format, lang);
            let source = auth.read(move |c, caller| render(c, caller, print, id)).await?;
            respond(format, format!("{}-{id}", kind.file_stem()), source).await
        }
    }
}

/// A customer's record that is JSON by default and prints from its kind's template
/// (`text/html`, `application/pdf`) by negotiation: a statement, a payment reminder.
pub(crate) async fn json_or_printed<T: Serialize + Send + 'static>(
    auth: Auth,
    req: &HttpRequest,
    language: Option<String>,
    kind: DocumentKind,
    customer_id: i64,
    load: impl FnOnce(&mut DbConnection, &Caller) -> DResult<T> + Send + 'static,
) -> Result<HttpResponse, Problem> {
    let format = negotiate(req, &[Format::Json, Format::Html, Format::Pdf])?;
    let lang = check_language(language)?;
    if format == Format::Json {
        let v = auth.read(load).await?;
        return Ok(json_response(StatusCode::OK, &v, None));
    }
    let print = Print::negotiated(&auth, kind, format, lang);
    let source = auth
        .read(move |c, caller| {
            let doc = to_json(&load(c, caller)?);
            fill(c, caller, &print, doc, customer_id)
        })
        .await?;
    respond(format, format!("{}-{customer_id}", kind.file_stem()), source).await
}

/// Answers a filled template: HTML as it is, PDF typeset on the blocking pool (after
/// the database connection went back).
pub(crate) async fn respond(format: Format, file: String, filled: Filled) -> Result<HttpResponse, Problem> {
    if format != Format::Pdf {
        return Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(filled.source));
    }
    let pdf = web::block(move || pdf::typeset(filled.source, filled.logo))
        .await
        .map_err(|e| Problem::from(DomainError::Internal(format!("typesetting: {e}"))))?
        .map_err(|e| Problem::from(DomainError::rule("template_error", e)))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Content-Disposition", format!("inline; filename=\"{file}.pdf\"")))
        .body(pdf))
}

/// The invoice or credit note as a UBL 2.1 e-invoice (Peppol BIS Billing 3.0), for
/// clients that cannot set `Accept`: the same as `GET /invoices/{id}/document` with
/// `Accept: application/xml` (the default here) or `text/xml` (the same XML, labelled
/// as text).
#[utoipa::path(tag = "documents", operation_id = "getInvoiceUbl",
    params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "UBL 2.1 Invoice or CreditNote",
        content((String = "application/xml"), (String = "text/xml")))))]
#[get("/invoices/{id}/ubl")]
pub async fn invoice_ubl(auth: Auth, req: HttpRequest, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let format = negotiate(&req, &[Format::Ubl, Format::UblText])?;
    let id = id.into_inner();
    let xml = auth.read(move |c, caller| e_invoice(c, caller, id)).await?;
    Ok(xml_response(xml, id, format))
}

macro_rules! document_endpoint {
    ($name:ident, $kind:expr, $op:literal, $path:literal, $summary:literal, $desc:literal, $content:tt) => {
        #[utoipa::path(tag = "documents", operation_id = $op, summary = $summary,
                    description = $desc,
                    params(("id" = i64, Path, description = "Id"), DocumentQuery),
                    responses((status = 200, description = "The document in the negotiated format", content $content)))]
        #[get($path)]
        pub async fn $name(
            auth: Auth,
            req: HttpRequest,
            id: web::Path<i64>,
            q: StrictQuery<DocumentQuery>,
        ) -> Result<HttpResponse, Problem> {
            document(auth, req, $kind, id.into_inner(), q.0).await
        }
    };
}
document_endpoint!(
    quotation_document,
    DocumentKind::Quotation,
    "getQuotationDocument",
    "/quotations/{id}/document",
    "Quotation as HTML or PDF",
    "By content negotiation: `text/html` (the default) renders the document from its template for `language` (a stored one, else the built-in one); `application/pdf` typesets the PDF template (embedded fonts, numbered pages, the table header repeated on each page); other types are 406. An agent renders their customers' documents only (404 otherwise).",
    ((String = "text/html"), (Vec<u8> = "application/pdf"))
);
document_endpoint!(
    order_document,
    DocumentKind::SalesOrder,
    "getSalesOrderDocument",
    "/sales-orders/{id}/document",
    "Order confirmation as HTML or PDF",
    "By content negotiation: `text/html` (the default) renders the document from its template for `language` (a stored one, else the built-in one); `application/pdf` typesets the PDF template (embedded fonts, numbered pages, the table header repeated on each page); other types are 406. An agent renders their customers' documents only (404 otherwise).",
    ((String = "text/html"), (Vec<u8> = "application/pdf"))
);
document_endpoint!(
    blanket_document,
    DocumentKind::BlanketOrder,
    "getBlanketOrderDocument",
    "/blanket-orders/{id}/document",
    "Blanket order as HTML or PDF",
    "By content negotiation: `text/html` (the default) renders the document from its template for `language` (a stored one, else the built-in one); `application/pdf` typesets the PDF template (embedded fonts, numbered pages, the table header repeated on each page); other types are 406. An agent renders their customers' documents only (404 otherwise).",
    ((String = "text/html"), (Vec<u8> = "application/pdf"))
);
document_endpoint!(
    invoice_document,
    DocumentKind::Invoice,
    "getInvoiceDocument",
    "/invoices/{id}/document",
    "Invoice or credit note as HTML, PDF or UBL e-invoice",
    "By content negotiation: `text/html` (the default) renders the document from its template for `language` (a stored one, else the built-in one); `application/pdf` typesets the PDF template (embedded fonts, numbered pages, the table header repeated on each page); `application/xml` (or `text/xml`) gives the posted document as a UBL 2.1 Invoice or CreditNote following Peppol BIS Billing 3.0 (EN 16931): 422 `e_invoice_incomplete` lists what the records lack (electronic addresses, addresses, VAT numbers) and a draft has none. Other types are 406. An agent renders their customers' documents only (404 otherwise).",
    ((String = "text/html"), (Vec<u8> = "application/pdf"), (String = "application/xml"), (String = "text/xml"))
);

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(create_template)
        .service(list_templates)
        .service(get_template)
        .service(update_template)
        .service(delete_template)
        .service(template_history)
        .service(quotation_document)
        .service(order_document)
        .service(blanket_document)
        .service(invoice_document)
        .service(invoice_ubl)
        .service(letters::dunning_letter);
}

#[cfg(test)]
mod tests {
    use super::format_decimal;

    #[test]
    fn decimals_are_formatted_per_language_without_floats() {
        assert_eq!(format_decimal("1234567.5", "en", 2), "1,234,567.50");
        assert_eq!(format_decimal("1234567.5", "pl", 2), "1\u{a0}234\u{a0}567,50");
        assert_eq!(format_decimal("1234.5", "de", 2), "1.234,50");
        assert_eq!(format_decimal("-0.125", "en", 2), "-0.125");
        assert_eq!(format_decimal("100", "ru", 0), "100");
        assert_eq!(format_decimal("99999999999999999999.99", "en", 2), "99,999,999,999,999,999,999.99");
    }
}
