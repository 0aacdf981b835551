//! Bulk import (`POST /imports`): customers, contacts, items, item prices, price-list
//! adjustments and opening stock from CSV or JSON Lines.
//!
//! Every row goes through the same use case (and so the same validation, scope and
//! audit) as the single-resource endpoint, inside a savepoint so one bad row does not
//! spoil the check of the others; item prices go through a bulk path with the same
//! rules, because a price list is the file people import by the hundred thousand.
//! A dry run runs the whole file in a transaction that is always rolled back, so it
//! reports exactly what a real run would refuse. A real run is queued, answered with
//! 202, and worked in the background by whichever process holds the import's lease,
//! batch by batch: a batch commits with the progress counter that counts it, so after
//! a crash the next process resumes after the last committed batch and no row is
//! imported twice. A batch with any refused row is rolled back as a whole.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use futures_util::StreamExt;
use ordo_core::time_util::now;
use ordo_core::{Caller, DomainError, FieldError, Page, PageRequest, Permission, Principal, Result as DResult};
use ordo_db::schema::{customers, imports, item_groups, items, price_lists, warehouses};
use ordo_db::{Db, DbConnection, Stats};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use time::OffsetDateTime;

use crate::extract::{json_response, Auth, ReplyMeta, StrictQuery};
use crate::problem::Problem;
use crate::AppState;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// Columns of `CustomerCreate`; addresses as `billing_address.city` etc.
    Customers,
    /// `customer_id` or `customer_number`, and the columns of `ContactCreate`.
    Contacts,
    /// Columns of `ItemCreate`; `item_group` (name) may stand for `item_group_id`.
    Items,
    /// `price_list_id` or `price_list` (name), `item_id` or `sku`, and the columns of
    /// `ItemPriceCreate`.
    ItemPrices,
    /// A percentage change of a list's prices (see the operation).
    PriceAdjustments,
    /// `item_id` or `sku`, `warehouse_id` or `warehouse` (code), `quantity`,
    /// `unit_cost` and an optional `reference`: a receipt per row.
    OpeningStock,
}

impl ImportKind {
    const ALL: [ImportKind; 6] = [
        ImportKind::Customers,
        ImportKind::Contacts,
        ImportKind::Items,
        ImportKind::ItemPrices,
        ImportKind::PriceAdjustments,
        ImportKind::OpeningStock,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Contacts => "contacts",
            ImportKind::Items => "items",
            ImportKind::ItemPrices => "item_prices",
            ImportKind::PriceAdjustments => "price_adjustments",
            ImportKind::OpeningStock => "opening_stock",
        }
    }

    fn parse(s: &str) -> Option<ImportKind> {
        ImportKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn permission(self) -> Permission {
        match self {
            ImportKind::Customers | ImportKind::Contacts => Permission::CustomersWrite,
            ImportKind::Items => Permission::ItemsWrite,
            ImportKind::ItemPrices | ImportKind::PriceAdjustments => Permission::PricingWrite,
            ImportKind::OpeningStock => Permission::StockWrite,
        }
    }

    /// The schema whose properties type a CSV row's cells.
    fn schema(self) -> &'static str {
        match self {
            ImportKind::Customers => "CustomerCreate",
            ImportKind::Contacts => "ContactCreate",
            ImportKind::Items => "ItemCreate",
            ImportKind::ItemPrices => "ItemPriceCreate",
            ImportKind::PriceAdjustments => "PriceAdjustmentRow",
            ImportKind::OpeningStock => "ReceiptRequest",
        }
    }

    /// Natural keys a row may give instead of an id: (column, id column, lookup).
    fn aliases(self) -> &'static [(&'static str, &'static str, Lookup)] {
        use Lookup::*;
        match self {
            ImportKind::Customers => &[("price_list", "price_list_id", PriceList)],
            ImportKind::Contacts => &[("customer_number", "customer_id", Customer)],
            ImportKind::Items => &[("item_group", "item_group_id", ItemGroup)],
            ImportKind::ItemPrices => &[("price_list", "price_list_id", PriceList), ("sku", "item_id", Item)],
            ImportKind::PriceAdjustments => &[
                ("price_list", "price_list_id", PriceList),
                ("sku", "item_id", Item),
                ("item_group", "item_group_id", ItemGroup),
            ],
            ImportKind::OpeningStock => &[("sku", "item_id", Item), ("warehouse", "warehouse_id", Warehouse)],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lookup {
    Customer,
    Item,
    ItemGroup,
    PriceList,
    Warehouse,
}

impl Lookup {
    fn label(self) -> &'static str {
        match self {
            Lookup::Customer => "customer numbered",
            Lookup::Item => "item with SKU",
            Lookup::ItemGroup => "item group named",
            Lookup::PriceList => "price list named",
            Lookup::Warehouse => "warehouse with code",
        }
    }
}

/// The file format, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// `text/csv`: a header line with the column names, then one record per row (RFC 4180).
    Csv,
    /// `application/x-ndjson` or `application/jsonl`: one JSON object per line.
    JsonLines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Accepted, waiting for a worker.
    Queued,
    Running,
    /// Every row imported.
    Completed,
    /// Some batches imported, others refused (with `batch_size`).
    PartiallyCompleted,
    /// Nothing imported: a row was refused and the file is all-or-nothing, or every batch was.
    Failed,
}

impl ImportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Completed => "completed",
            ImportStatus::PartiallyCompleted => "partially_completed",
            ImportStatus::Failed => "failed",
        }
    }
    fn parse(s: &str) -> ImportStatus {
        [
            ImportStatus::Queued,
            ImportStatus::Running,
            ImportStatus::Completed,
            ImportStatus::PartiallyCompleted,
            ImportStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .unwrap_or(ImportStatus::Failed)
    }
}

/// One refused row: which row (1 is the first record after a CSV header, or the first
/// line of JSON Lines), which column, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    pub row: i64,
    /// The column (a JSON path for nested fields); empty when the row as a whole is refused.
    pub field: String,
    pub code: String,
    pub message: String,
}

/// A price-list adjustment: every price of the list (or of one item, or of one item
/// group) changes by `percent`, rounded to the list currency's minor units.
#[derive(Debug, Clone, Deserialize, validator::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceAdjustmentRow {
    /// Or `price_list` (its name).
    pub price_list_id: i64,
    /// Only this item (or `sku`).
    pub item_id: Option<i64>,
    /// Only items of this group (or `item_group`, its name).
    pub item_group_id: Option<i64>,
    /// e.g. `"5"` for +5 %, `"-2.5"` for −2.5 %; between −100 and 1000.
    #[validate(custom(function = "adjustment_percent"))]
    pub percent: ordo_core::Rate,
}

fn adjustment_percent(p: &ordo_core::Rate) -> Result<(), validator::ValidationError> {
    let v = p.value();
    if v < rust_decimal::Decimal::from(-100) || v > rust_decimal::Decimal::from(1000) {
        return Err(validator::ValidationError::new("range").with_message("between -100 and 1000".into()));
    }
    Ok(())
}

/// An import and how far it got.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: i64,
    pub kind: ImportKind,
    pub format: ImportFormat,
    pub status: ImportStatus,
    /// Rows per all-or-nothing batch; null: the whole file is one batch.
    pub batch_size: Option<i64>,
    pub rows_total: i64,
    /// Rows of the batches finished (imported or refused).
    pub rows_done: i64,
    /// Rows checked so far, including the batch being worked on (seen by the
    /// process working it; elsewhere equal to `rows_done`).
    pub rows_checked: i64,
    pub rows_imported: i64,
    /// Rows with at least one error.
    pub rows_failed: i64,
    /// The first 1,000 errors.
    pub errors: Vec<RowError>,
    pub errors_truncated: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
}

/// What a dry run found: nothing was written.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportCheck {
    pub kind: ImportKind,
    pub format: ImportFormat,
    pub rows_total: i64,
    pub rows_valid: i64,
    pub rows_failed: i64,
    /// The first 1,000 errors.
    pub errors: Vec<RowError>,
    pub errors_truncated: bool,
}

const MAX_ERRORS: usize = 1000;
const MAX_BYTES: usize = 64 * 1024 * 1024;
const MAX_ROWS: usize = 1_000_000;
const LEASE: time::Duration = time::Duration::seconds(60);

// ---------------------------------------------------------------------------------
// Files

/// A row as the JSON object its endpoint would take, or why it cannot be read.
type ParsedRow = std::result::Result<Map<String, Value>, Vec<FieldError>>;

/// A parsed file: rows as JSON objects (CSV cells typed by the kind's schema), or the
/// errors that make a row unreadable.
struct File {
    rows: Vec<ParsedRow>,
}

/// The format the `Content-Type` names: `Some(None)` for `application/octet-stream`
/// (what generated clients send for a file), where the content decides: JSON Lines
/// when it starts with `{`, else CSV.
fn media_format(req: &HttpRequest) -> Option<Option<ImportFormat>> {
    let ct = req.headers().get(actix_web::http::header::CONTENT_TYPE)?.to_str().ok()?.to_ascii_lowercase();
    match ct.split(';').next()?.trim() {
        "text/csv" => Some(Some(ImportFormat::Csv)),
        "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => Some(Some(ImportFormat::JsonLines)),
        "application/octet-stream" => Some(None),
        _ => None,
    }
}

fn body_error(code: &str, message: impl Into<String>) -> DomainError {
    DomainError::Validation(vec![FieldError::new("body", code, message)])
}

/// RFC 4180 records; quoted cells may hold commas, quotes and line breaks.
fn csv_records(text: &str) -> std::result::Result<Vec<Vec<String>>, DomainError> {
    let (mut out, mut rec, mut cell, mut quoted, mut was_quoted) = (vec![], vec![], String::new(), false, false);
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    cell.push(c)
                }
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() && !was_quoted => (quoted, was_quoted) = (true, true),
            ',' => {
                rec.push(std::mem::take(&mut cell));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                rec.push(std::mem::take(&mut cell));
                was_quoted = false;
                if !(rec.len() == 1 && rec[0].is_empty()) {
                    out.push(std::mem::take(&mut rec));
                }
                rec.clear();
            }
            c => cell.push(c),
        }
    }
    if quoted {
        return Err(body_error("malformed_csv", format!("a quoted cell is not closed (line {line})")));
    }
    if !cell.is_empty() || !rec.is_empty() {
        rec.push(cell);
        out.push(rec);
    }
    Ok(out)
}

impl File {
    fn parse(
        format: ImportFormat,
        kind: ImportKind,
        text: &str,
        schemas: &Value,
    ) -> std::result::Result<File, DomainError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let rows = match format {
            ImportFormat::JsonLines => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| match serde_json::from_str::<Value>(l) {
                    Ok(Value::Object(m)) => Ok(m),
                    Ok(_) => Err(vec![FieldError::new("", "not_an_object", "each line must be one JSON object")]),
                    Err(e) => Err(vec![FieldError::new("", "malformed_json", e.to_string())]),
                })
                .collect(),
            ImportFormat::Csv => {
                let mut records = csv_records(text)?.into_iter();
                let header: Vec<String> = records
                    .next()
                    .ok_or_else(|| body_error("empty", "the file has no header line"))?
                    .into_iter()
                    .map(|h| h.trim().to_string())
                    .collect();
                let mut seen = HashSet::new();
                if let Some(h) = header.iter().find(|h| h.is_empty() || !seen.insert(h.as_str())) {
                    return Err(body_error("bad_header", format!("column names must be unique and not empty: {h:?}")));
                }
                let schema = &schemas[kind.schema()];
                records.map(|r| csv_row(&header, r, schemas, schema)).collect()
            }
        };
        let file = File { rows };
        if file.rows.is_empty() {
            return Err(body_error("empty", "the file has no rows"));
        }
        if file.rows.len() > MAX_ROWS {
            return Err(body_error("too_many_rows", format!("at most {MAX_ROWS} rows per file")));
        }
        Ok(file)
    }
}

/// A CSV record as the JSON object the endpoint would take: empty cells left out,
/// `a.b` columns nested, cells typed by the schema (integers, booleans, arrays as
/// JSON or `;`-separated, objects as JSON); columns the schema does not know stay text
/// (natural keys like `sku`; anything else is refused by the row's own parsing).
fn csv_row(header: &[String], cells: Vec<String>, schemas: &Value, schema: &Value) -> ParsedRow {
    if cells.len() != header.len() {
        return Err(vec![FieldError::new(
            "",
            "columns",
            format!("{} cells where the header has {} columns", cells.len(), header.len()),
        )]);
    }
    let mut obj = Map::new();
    let mut errors = vec![];
    for (name, raw) in header.iter().zip(cells) {
        if raw.is_empty() {
            continue;
        }
        let path: Vec<&str> = name.split('.').collect();
        let mut prop = schema.clone();
        for p in &path {
            prop = resolve(schemas, &resolve(schemas, &prop)["properties"][*p]);
        }
        match typed(schemas, &prop, &raw) {
            Ok(v) => {
                let mut target = &mut obj;
                for p in &path[..path.len() - 1] {
                    let entry = target.entry(p.to_string()).or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    target = entry.as_object_mut().expect("an object");
                }
                target.insert(path[path.len() - 1].to_string(), v);
            }
            Err(m) => errors.push(FieldError::new(name.clone(), "invalid_type", m)),
        }
    }
    if errors.is_empty() {
        Ok(obj)
    } else {
        Err(errors)
    }
}

/// `$ref` followed, and of a nullable `oneOf`/`anyOf` the non-null part.
fn resolve(schemas: &Value, s: &Value) -> Value {
    if let Some(r) = s["$ref"].as_str() {
        return resolve(schemas, &schemas[r.trim_start_matches("#/components/schemas/")]);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = s[key].as_array() {
            if let Some(p) = parts.iter().find(|p| p["type"] != "null") {
                return resolve(schemas, p);
            }
        }
    }
    s.clone()
}

fn typed(schemas: &Value, s: &Value, raw: &str) -> std::result::Result<Value, String> {
    let ty = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).find(|t| *t != "null").unwrap_or("string").to_string(),
        _ => "string".into(),
    };
    match ty.as_str() {
        "integer" => raw.trim().parse::<i64>().map(Value::from).map_err(|_| format!("{raw:?} is not a whole number")),
        "boolean" => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("{raw:?} is not true or false")),
        },
        "array" if raw.trim_start().starts_with('[') => serde_json::from_str(raw).map_err(|e| e.to_string()),
        "array" => {
            let item = resolve(schemas, &s["items"]);
            raw.split(';').map(str::trim).filter(|x| !x.is_empty()).map(|x| typed(schemas, &item, x)).collect()
        }
        "object" => match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err("expected a JSON object".into()),
        },
        _ => Ok(Value::String(raw.to_string())),
    }
}

// ---------------------------------------------------------------------------------
// Rows

/// Replaces natural keys (`sku`, `customer_number`, ...) by ids for a batch, with one
/// query per key kind and thousand values. Unknown keys are row errors.
fn resolve_keys(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: ImportKind,
    rows: &mut [(i64, ParsedRow)],
) -> DResult<()> {
    for (column, target, lookup) in kind.aliases() {
        let wanted: HashSet<String> =
            rows.iter().filter_map(|(_, r)| r.as_ref().ok()?.get(*column).map(key_text)).collect();
        let found = if wanted.is_empty() { HashMap::new() } else { lookup_ids(conn, caller, *lookup, wanted)? };
        for (_, row) in rows.iter_mut() {
            let Ok(obj) = row else { continue };
            let Some(v) = obj.remove(*column) else { continue };
            let error = if obj.contains_key(*target) {
                Some(FieldError::new(*column, "ambiguous", format!("give `{target}` or `{column}`, not both")))
            } else if let Some(id) = found.get(&key_text(&v)) {
                obj.insert(target.to_string(), Value::from(*id));
                None
            } else {
                Some(FieldError::new(*column, "not_found", format!("no {} {} found", lookup.label(), key_text(&v))))
            };
            if let Some(e) = error {
                *row = Err(vec![e]);
            }
        }
    }
    Ok(())
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

fn lookup_ids(
    conn: &mut DbConnection,
    caller: &Caller,
    lookup: Lookup,
    wanted: HashSet<String>,
) -> DResult<HashMap<String, i64>> {
    let wanted: Vec<String> = wanted.into_iter().collect();
    let mut out = HashMap::new();
    for chunk in wanted.chunks(1000) {
        let pairs: Vec<(String, i64)> = match lookup {
            Lookup::Item => items::table.filter(items::sku.eq_any(chunk)).select((items::sku, items::id)).load(conn)?,
            // Only customers the caller may see: an agent cannot attach contacts elsewhere.
            Lookup::Customer => ordo_crm::scope::visible_customers(caller.scope())
                .filter(customers::number.eq_any(chunk))
                .select((customers::number, customers::id))
                .load(conn)?,
            Lookup::ItemGroup => item_groups::table
                .filter(item_groups::name.eq_any(chunk))
                .select((item_groups::name, item_groups::id))
                .load(conn)?,
            Lookup::PriceList => price_lists::table
                .filter(price_lists::name.eq_any(chunk))
                .select((price_lists::name, price_lists::id))
                .load(conn)?,
            Lookup::Warehouse => warehouses::table
                .filter(warehouses::code.eq_any(chunk))
                .select((warehouses::code, warehouses::id))
                .load(conn)?,
        };
        out.extend(pairs);
    }
    Ok(out)
}

fn parse_row<T: serde::de::DeserializeOwned + validator::Validate>(row: Map<String, Value>) -> DResult<T> {
    ordo_core::body::parse_validated(Value::Object(row)).map_err(DomainError::Validation)
}

fn take_id(row: &mut Map<String, Value>, field: &str, alias: &str) -> DResult<i64> {
    match row.remove(field) {
        Some(v) => v.as_i64().ok_or_else(|| DomainError::field(field, "invalid_type", "a whole number")),
        None => Err(DomainError::field(field, "required", format!("give `{field}` or `{alias}`"))),
    }
}

/// One row through its use case.
fn apply_row(conn: &mut DbConnection, caller: &Caller, kind: ImportKind, mut row: Map<String, Value>) -> DResult<()> {
    match kind {
        ImportKind::Customers => {
            ordo_crm::service::create_customer(conn, caller, parse_row(row)?)?;
        }
        ImportKind::Contacts => {
            let customer = take_id(&mut row, "customer_id", "customer_number")?;
            ordo_crm::service::create_contact(conn, caller, customer, parse_row(row)?)?;
        }
        ImportKind::Items => {
            ordo_catalog::service::create_item(conn, caller, parse_row(row)?)?;
        }
        ImportKind::PriceAdjustments => {
            let r: PriceAdjustmentRow = parse_row(row)?;
            ordo_pricing::service::item_prices::adjust(
                conn,
                caller,
                r.price_list_id,
                r.item_id,
                r.item_group_id,
                r.percent,
            )?;
        }
        ImportKind::OpeningStock => {
            row.entry("reference").or_insert_with(|| Value::String("opening stock".into()));
            ordo_fulfillment::stock::receive(conn, caller, parse_row(row)?)?;
        }
        ImportKind::ItemPrices => unreachable!("item prices are imported in bulk"),
    }
    Ok(())
}

fn row_errors(row: i64, errors: Vec<FieldError>) -> impl Iterator<Item = RowError> {
    errors.into_iter().map(move |e| RowError { row, field: e.field, code: e.code, message: e.message })
}

/// Checks and writes one batch in the caller's transaction; answers the refused rows'
/// errors (the caller rolls the batch back when there are any). `tick` hears how many
/// rows were checked.
fn run_batch(
    conn: &mut DbConnection,
    caller: &Caller,
    kind: ImportKind,
    mut rows: Vec<(i64, ParsedRow)>,
    tick: &dyn Fn(usize),
) -> DResult<Vec<RowError>> {
    resolve_keys(conn, caller, kind, &mut rows)?;
    let mut errors = vec![];
    if kind == ImportKind::ItemPrices {
        let mut by_list: HashMap<i64, Vec<(i64, ordo_pricing::model::ItemPriceCreate)>> = HashMap::new();
        for (n, row) in rows {
            let parsed = row.map_err(DomainError::Validation).and_then(|mut r| {
                let list = take_id(&mut r, "price_list_id", "price_list")?;
                Ok((list, parse_row(r)?))
            });
            match parsed {
                Ok((list, input)) => by_list.entry(list).or_default().push((n, input)),
                Err(e) => errors.extend(row_errors(n, e.field_errors())),
            }
        }
        let mut checked = 0;
        for (list, rows) in by_list {
            let numbers: Vec<i64> = rows.iter().map(|(n, _)| *n).collect();
            checked += rows.len();
            match ordo_pricing::service::item_prices::import(conn, caller, list, rows) {
                Ok(refused) => errors.extend(refused.into_iter().flat_map(|(n, e)| row_errors(n, vec![e]))),
                Err(DomainError::NotFound { .. }) => errors.extend(numbers.into_iter().flat_map(|n| {
                    row_errors(
                        n,
                        vec![FieldError::new("price_list_id", "not_found", format!("price list {list} not found"))],
                    )
                })),
                Err(e) => return Err(e),
            }
            tick(checked);
        }
    } else {
        for (i, (n, row)) in rows.into_iter().enumerate() {
            match row {
                Err(e) => errors.extend(row_errors(n, e)),
                Ok(r) => {
                    // A savepoint per row: a row that fails in the database (a unique
                    // key) must not abort the checks of the rows after it.
                    if let Err(e) = ordo_db::savepoint(conn, |c| apply_row(c, caller, kind, r)) {
                        if let DomainError::Internal(m) = &e {
                            tracing::error!(row = n, error = %m, "import row failed");
                        }
                        errors.extend(row_errors(n, e.field_errors()));
                    }
                }
            }
            if i % 100 == 99 {
                tick(i + 1);
            }
        }
    }
    errors.sort_by_key(|e| e.row);
    Ok(errors)
}

fn failed_rows(errors: &[RowError]) -> i64 {
    errors.iter().map(|e| e.row).collect::<HashSet<_>>().len() as i64
}

// ---------------------------------------------------------------------------------
// Stored imports

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports)]
struct ImportRow {
    id: i64,
    kind: String,
    format: String,
    status: String,
    batch_size: Option<i64>,
    rows_total: i64,
    rows_done: i64,
    rows_imported: i64,
    rows_failed: i64,
    errors: String,
    principal: String,
    actor: String,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
    finished_at: Option<time::PrimitiveDateTime>,
}

impl ImportRow {
    fn to_model(&self, rt: &Runtime) -> ImportJob {
        let errors: Vec<RowError> = serde_json::from_str(&self.errors).unwrap_or_default();
        let checked = rt.progress(self.id);
        ImportJob {
            id: self.id,
            kind: ImportKind::parse(&self.kind).unwrap_or(ImportKind::Customers),
            format: if self.format == "csv" { ImportFormat::Csv } else { ImportFormat::JsonLines },
            status: ImportStatus::parse(&self.status),
            batch_size: self.batch_size,
            rows_total: self.rows_total,
            rows_done: self.rows_done,
            rows_checked: checked.max(self.rows_done),
            rows_imported: self.rows_imported,
            rows_failed: self.rows_failed,
            errors_truncated: errors.len() >= MAX_ERRORS,
            errors,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
            finished_at: self.finished_at.map(|t| t.assume_utc()),
        }
    }
}

/// The import worker of one app: whether it is running, and the rows checked per
/// import (the batch in progress is not committed, so only memory knows).
#[derive(Default)]
pub struct Runtime {
    working: AtomicBool,
    progress: Mutex<HashMap<i64, i64>>,
}

impl Runtime {
    fn set_progress(&self, id: i64, rows: Option<i64>) {
        if let Ok(mut map) = self.progress.lock() {
            match rows {
                Some(r) => map.insert(id, r),
                None => map.remove(&id),
            };
        }
    }
    fn progress(&self, id: i64) -> i64 {
        self.progress.lock().ok().and_then(|p| p.get(&id).copied()).unwrap_or(0)
    }
}

fn principal_json(p: &Principal) -> String {
    serde_json::json!({"kind": p.kind, "id": p.id, "name": p.name,
        "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()})
    .to_string()
}

fn principal_of(json: &str) -> Option<Principal> {
    let v: Value = serde_json::from_str(json).ok()?;
    Some(Principal {
        kind: serde_json::from_value(v["kind"].clone()).ok()?,
        id: v["id"].as_i64()?,
        name: v["name"].as_str()?.to_string(),
        roles: v["roles"].as_array()?.iter().filter_map(|r| r.as_str()?.parse().ok()).collect(),
    })
}

fn find(conn: &mut DbConnection, caller: &Caller, id: i64) -> DResult<ImportRow> {
    let row: ImportRow = imports::table
        .find(id)
        .select(ImportRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("import", id))?;
    // Imports are their author's (and an admin's): anyone else gets the 404 of a missing id.
    if row.actor != caller.principal.actor_key() && !caller.principal.has_role(ordo_core::Role::Admin) {
        return Err(DomainError::not_found("import", id));
    }
    Ok(row)
}

fn list(conn: &mut DbConnection, caller: &Caller, page: &PageRequest, rt: &Runtime) -> DResult<Page<ImportJob>> {
    let mut q = imports::table.select(ImportRow::as_select()).into_boxed();
    if !caller.principal.has_role(ordo_core::Role::Admin) {
        q = q.filter(imports::actor.eq(caller.principal.actor_key()));
    }
    let rows: Vec<ImportRow> = ordo_db::keyset!(q, page, imports::id).load(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id).map(|r| r.to_model(rt)))
}

// ---------------------------------------------------------------------------------
// The worker

/// Works queued imports (and ones whose worker died) on a blocking thread, unless this
/// process is already at it.
pub fn kick(state: web::Data<AppState>) {
    if state.imports.working.swap(true, Ordering::SeqCst) {
        return;
    }
    actix_web::rt::spawn(async move {
        loop {
            let st = state.clone();
            let r = web::block(move || work(&st.db, st.spec_schemas(), &st.imports)).await;
            if let Ok(Err(e)) = r {
                tracing::error!(error = %e, "import worker failed");
            }
            state.imports.working.store(false, Ordering::SeqCst);
            // An import queued while the worker was finishing would wait for the next
            // tick: look once more.
            let st = state.clone();
            let more = web::block(move || st.db.read(&Stats::default(), |c| Ok(claimable(c)?.is_some())))
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(false);
            if !more || state.imports.working.swap(true, Ordering::SeqCst) {
                break;
            }
        }
    });
}

/// Every 30 seconds: take over imports whose lease ran out (their process died).
pub fn spawn(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            kick(state.clone());
        }
    });
}

fn claimable(conn: &mut DbConnection) -> DResult<Option<i64>> {
    Ok(imports::table
        .filter(imports::status.eq_any(["queued", "running"]))
        .filter(imports::lease_until.is_null().or(imports::lease_until.lt(now())))
        .order(imports::id)
        .select(imports::id)
        .first(conn)
        .optional()?)
}

fn work(db: &Db, schemas: &Value, rt: &Runtime) -> DResult<()> {
    let stats = Stats::default();
    loop {
        let claimed = db.write(&stats, |c| {
            let Some(id) = claimable(c)? else { return Ok(None) };
            let n = diesel::update(
                imports::table
                    .filter(imports::id.eq(id))
                    .filter(imports::lease_until.is_null().or(imports::lease_until.lt(now()))),
            )
            .set((imports::status.eq("running"), imports::lease_until.eq(now() + LEASE), imports::updated_at.eq(now())))
            .execute(c)?;
            if n == 0 {
                return Ok(None);
            }
            let row: ImportRow = imports::table.find(id).select(ImportRow::as_select()).first(c)?;
            let payload: String = imports::table.find(id).select(imports::payload).first(c)?;
            Ok(Some((row, payload)))
        })?;
        let Some((row, payload)) = claimed else { return Ok(()) };
        let id = row.id;
        let r = process(db, schemas, rt, row, &payload);
        rt.set_progress(id, None);
        if let Err(e) = r {
            // Not a refused row but a failure of the import itself: say so on the
            // import rather than leave it running for the next worker to fail again.
            tracing::error!(import = id, error = %e, "import failed");
            let message = match &e {
                DomainError::Internal(m) => m.clone(),
                other => other.to_string(),
            };
            let errors = serde_json::json!([{"row": 0, "field": "", "code": "import_failed", "message": message}]);
            db.write(&stats, |c| finish(c, id, ImportStatus::Failed, Some(errors.to_string())))?;
        }
    }
}

fn process(db: &Db, schemas: &Value, rt: &Runtime, row: ImportRow, payload: &str) -> DResult<()> {
    let stats = Stats::default();
    let kind = ImportKind::parse(&row.kind).ok_or_else(|| DomainError::Internal("import of unknown kind".into()))?;
    let format = if row.format == "csv" { ImportFormat::Csv } else { ImportFormat::JsonLines };
    let principal = principal_of(&row.principal).ok_or_else(|| DomainError::Internal("import principal".into()))?;
    let caller = Caller { principal, request_id: Some(format!("import-{}", row.id)) };
    let mut rows: Vec<_> = File::parse(format, kind, payload, schemas)?.rows.into_iter().enumerate().collect();
    let total = rows.len() as i64;
    let batch = row.batch_size.unwrap_or(total).max(1);
    let mut done = row.rows_done;
    let mut errors: Vec<RowError> = serde_json::from_str(&row.errors).unwrap_or_default();
    rows.drain(..done.min(total) as usize);
    let mut rows = rows.into_iter().map(|(i, r)| (i as i64 + 1, r));
    while done < total {
        let end = (done + batch).min(total);
        let slice: Vec<_> = rows.by_ref().take((end - done) as usize).collect();
        let start = done;
        let tick = |n: usize| rt.set_progress(row.id, Some(start + n as i64));
        // Try the batch; with any refused row it is rolled back and only the errors and
        // the progress are kept, in a second transaction.
        let mut refused = None;
        let attempt = db.write(&stats, |c| {
            let errs = run_batch(c, &caller, kind, slice, &tick)?;
            if !errs.is_empty() {
                refused = Some(errs);
                return Err(DomainError::Internal("batch refused".into()));
            }
            advance(c, row.id, done, end, end - done, 0, None)
        });
        match (attempt, refused) {
            (Ok(true), _) => {}
            (Ok(false), _) => return Ok(()), // another process took the import over
            (Err(_), Some(errs)) => {
                let failed = failed_rows(&errs);
                errors.extend(errs);
                errors.truncate(MAX_ERRORS);
                let text = serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into());
                if !db.write(&stats, |c| advance(c, row.id, done, end, 0, failed, Some(text)))? {
                    return Ok(());
                }
            }
            (Err(e), None) => return Err(e),
        }
        done = end;
    }
    db.write(&stats, |c| {
        let r: ImportRow = imports::table.find(row.id).select(ImportRow::as_select()).first(c)?;
        let status = if r.rows_imported == r.rows_total {
            ImportStatus::Completed
        } else if r.rows_imported == 0 {
            ImportStatus::Failed
        } else {
            ImportStatus::PartiallyCompleted
        };
        finish(c, row.id, status, None)
    })
}

/// The end of an import: its status, the file dropped, the lease released.
fn finish(c: &mut DbConnection, id: i64, status: ImportStatus, errors: Option<String>) -> DResult<()> {
    let q = diesel::update(imports::table.find(id));
    let common = (
        imports::status.eq(status.as_str()),
        imports::payload.eq(""),
        imports::lease_until.eq(None::<time::PrimitiveDateTime>),
        imports::finished_at.eq(Some(now())),
        imports::updated_at.eq(now()),
    );
    match errors {
        Some(e) => q.set((common, imports::errors.eq(e))).execute(c)?,
        None => q.set(common).execute(c)?,
    };
    Ok(())
}

/// Moves `rows_done` from `from` to `to` (only if it is still `from`: a batch counts
/// once) and renews the lease. False when another worker got there first.
fn advance(
    c: &mut DbConnection,
    id: i64,
    from: i64,
    to: i64,
    imported: i64,
    failed: i64,
    errors: Option<String>,
) -> DResult<bool> {
    let q = imports::table.filter(imports::id.eq(id)).filter(imports::rows_done.eq(from));
    let n = match errors {
        Some(e) => diesel::update(q)
            .set((
                imports::rows_done.eq(to),
                imports::rows_failed.eq(imports::rows_failed + failed),
                imports::errors.eq(e),
                imports::lease_until.eq(now() + LEASE),
                imports::updated_at.eq(now()),
            ))
            .execute(c)?,
        None => diesel::update(q)
            .set((
                imports::rows_done.eq(to),
                imports::rows_imported.eq(imports::rows_imported + imported),
                imports::lease_until.eq(now() + LEASE),
                imports::updated_at.eq(now()),
            ))
            .execute(c)?,
    };
    Ok(n == 1)
}

// ---------------------------------------------------------------------------------
// HTTP

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// What the file holds.
    pub kind: ImportKind,
    /// Check every row and answer the errors (200, `ImportCheck`) without writing.
    #[serde(default)]
    pub dry_run: bool,
    /// Rows per all-or-nothing batch (1–100,000). Without it the whole file is one
    /// batch: one refused row and nothing is imported.
    pub batch_size: Option<i64>,
}

/// ImportJob a file.
///
/// The body is the file: `Content-Type: text/csv` (a header line naming the columns,
/// UTF-8, RFC 4180 quoting) or `application/x-ndjson` (one JSON object per line), at
/// most 64 MiB and 1,000,000 rows. `application/octet-stream` (what generated clients
/// send for a file) is taken too: a file starting with `{` is JSON Lines, else CSV. The columns per `kind`:
///
/// - `customers`: those of `CustomerCreate` (addresses as `billing_address.city`, ...),
///   `price_list` (name) may stand for `price_list_id`;
/// - `contacts`: `customer_id` or `customer_number`, and those of `ContactCreate`;
/// - `items`: those of `ItemCreate`; `item_group` (name) for `item_group_id`;
/// - `item_prices`: `price_list_id` or `price_list` (name), `item_id` or `sku`, and
///   those of `ItemPriceCreate`;
/// - `price_adjustments`: `price_list_id` or `price_list` (name); optionally only one
///   item (`item_id` or `sku`) or one group (`item_group_id` or `item_group`); and
///   `percent` (`"5"` raises by 5 %, `"-2.5"` lowers), rounded to the currency;
/// - `opening_stock`: `item_id` or `sku`, `warehouse_id` or `warehouse` (code),
///   `quantity`, `unit_cost`, optional `reference` (default "opening stock").
///
/// In CSV, empty cells are left out, whole numbers and booleans (`true`/`false`,
/// `1`/`0`) are typed by the schema, lists are JSON or `;`-separated. Every row goes
/// through the same checks, scope and audit as the endpoint that creates one.
///
/// `dry_run=true` answers 200 with every refused row (`row`, `field`, `code`) and
/// writes nothing. Otherwise the import is queued and answered with 202 and its
/// `Location`; `GET /imports/{id}` shows its progress and errors. The whole file is
/// all-or-nothing unless `batch_size` splits it into batches that are each
/// all-or-nothing. Send an `Idempotency-Key` to make a retried upload safe.
#[utoipa::path(
    tag = "imports",
    operation_id = "createImport",
    params(ImportParams),
    request_body(content = Vec<u8>, description = "The file: CSV or JSON Lines (see above)", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Dry run: what a real run would refuse", body = ImportCheck),
        (status = 202, description = "Queued", body = ImportJob, headers(("Location" = String))),
        (status = 413, description = "The file is larger than 64 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not CSV or JSON Lines", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/imports")]
pub async fn create_import(
    auth: Auth,
    req: HttpRequest,
    q: StrictQuery<ImportParams>,
    mut body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let p = q.0;
    auth.caller.require(p.kind.permission())?;
    if let Some(b) = p.batch_size {
        if !(1..=100_000).contains(&b) {
            return Err(Problem::validation(vec![FieldError::new("batch_size", "range", "between 1 and 100000")]));
        }
    }
    let format = media_format(&req).ok_or_else(|| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as `Content-Type: text/csv`, `application/x-ndjson` or `application/octet-stream`",
        )
    })?;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Problem::bad_request("malformed_body", e.to_string()))?;
        if bytes.len() + chunk.len() > MAX_BYTES {
            return Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "at most 64 MiB per file"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::from(body_error("not_utf8", "the file must be UTF-8")))?;
    let format = format.unwrap_or(if text.trim_start_matches('\u{feff}').trim_start().starts_with('{') {
        ImportFormat::JsonLines
    } else {
        ImportFormat::Csv
    });
    let state = auth.db_state();
    let file = File::parse(format, p.kind, &text, state.spec_schemas())?;
    let total = file.rows.len() as i64;
    if p.dry_run {
        let kind = p.kind;
        let rows: Vec<_> = file.rows.into_iter().enumerate().map(|(i, r)| (i as i64 + 1, r)).collect();
        let errors = auth.dry_run(move |c, caller| run_batch(c, caller, kind, rows, &|_| {})).await?;
        let failed = failed_rows(&errors);
        let truncated = errors.len() > MAX_ERRORS;
        let check = ImportCheck {
            kind,
            format,
            rows_total: total,
            rows_valid: total - failed,
            rows_failed: failed,
            errors: errors.into_iter().take(MAX_ERRORS).collect(),
            errors_truncated: truncated,
        };
        return Ok(json_response(StatusCode::OK, &check, None));
    }
    // A retry with the same key must carry the same file and parameters.
    crate::extract::remember_body(&req, format!("{}\n{text}", req.query_string()).as_bytes());
    let (kind, batch_size) = (p.kind, p.batch_size);
    let st = auth.state_data();
    let resp = auth
        .post(
            StatusCode::ACCEPTED,
            move |c, caller| {
                let ts = now();
                let id: i64 = diesel::insert_into(imports::table)
                    .values((
                        imports::kind.eq(kind.as_str()),
                        imports::format.eq(if format == ImportFormat::Csv { "csv" } else { "json_lines" }),
                        imports::status.eq("queued"),
                        imports::batch_size.eq(batch_size),
                        imports::rows_total.eq(total),
                        imports::rows_done.eq(0),
                        imports::rows_imported.eq(0),
                        imports::rows_failed.eq(0),
                        imports::errors.eq("[]"),
                        imports::payload.eq(text),
                        imports::principal.eq(principal_json(&caller.principal)),
                        imports::actor.eq(caller.principal.actor_key()),
                        imports::created_at.eq(ts),
                        imports::updated_at.eq(ts),
                    ))
                    .returning(imports::id)
                    .get_result(c)?;
                Ok(find(c, caller, id)?.to_model(&st.imports))
            },
            |v| ReplyMeta { location: Some(format!("/api/v1/imports/{}", v.id)), version: None },
        )
        .await?;
    kick(auth.state_data());
    Ok(resp)
}

/// An import: status, progress and the refused rows.
#[utoipa::path(tag = "imports", operation_id = "getImport",
    params(("id" = i64, Path, description = "Id")),
    responses((status = 200, description = "Found", body = ImportJob)))]
#[get("/imports/{id}")]
pub async fn get_import(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let state = auth.state_data();
    let v = auth.read(move |c, caller| Ok(find(c, caller, id)?.to_model(&state.imports))).await?;
    Ok(json_response(StatusCode::OK, &v, None))
}

/// Your imports (an admin: everyone's), oldest first.
#[utoipa::path(tag = "imports", operation_id = "listImports", params(crate::common::PageQuery),
    responses((status = 200, description = "A page", body = Page<ImportJob>)))]
#[get("/imports")]
pub async fn list_imports(auth: Auth, q: StrictQuery<crate::common::PageQuery>) -> Result<HttpResponse, Problem> {
    let (page, state) = (q.0.page()?, auth.state_data());
    auth.list(page, move |c, caller, page| list(c, caller, page, &state.imports)).await
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(create_import).service(get_import).service(list_imports);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_follow_rfc_4180() {
        let r = csv_records("a,b\r\n\"x, \"\"y\"\"\",\"line\nbreak\"\n\n1,\n").unwrap();
        assert_eq!(r, vec![vec!["a", "b"], vec!["x, \"y\"", "line\nbreak"], vec!["1", ""]]);
        assert!(csv_records("a\n\"open").is_err());
    }

    #[test]
    fn cells_are_typed_by_the_schema() {
        let schemas = serde_json::json!({"T": {"type": "object", "properties": {
            "n": {"type": "integer"}, "b": {"type": ["boolean", "null"]}, "tags": {"type": "array", "items": {"type": "string"}},
            "addr": {"$ref": "#/components/schemas/A"}, "s": {"type": "string"}}},
            "A": {"type": "object", "properties": {"city": {"type": "string"}}}});
        let header: Vec<String> = ["n", "b", "tags", "addr.city", "s", "sku"].iter().map(|s| s.to_string()).collect();
        let cells = ["7", "yes", "a; b", "Łódź", "", "X-1"].iter().map(|s| s.to_string()).collect();
        let row = csv_row(&header, cells, &schemas, &schemas["T"]).unwrap();
        assert_eq!(
            Value::Object(row),
            serde_json::json!({"n": 7, "b": true, "tags": ["a", "b"], "addr": {"city": "Łódź"}, "sku": "X-1"})
        );
        let bad = csv_row(
            &header,
            ["x", "maybe", "", "", "", ""].iter().map(|s| s.to_string()).collect(),
            &schemas,
            &schemas["T"],
        );
        assert_eq!(bad.unwrap_err().iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["n", "b"]);
    }
}
