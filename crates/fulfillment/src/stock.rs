//! Warehouses and the stock ledger. Every movement is an immutable ledger entry; the
//! balance row per item × warehouse changes in the same transaction, only through
//! conditional updates, so stock cannot go negative (or below what is reserved)
//! unless the item allows it.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::{Caller, DomainError, FieldError, Money, Page, PageRequest, Permission, Quantity, Result};
use ordo_db::crud::Record;
use ordo_db::schema::{items, stock_balances, stock_ledger, warehouses};
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

pub(crate) fn read(caller: &Caller) -> Result<()> {
    caller.require(Permission::StockRead)
}
pub(crate) fn write(caller: &Caller) -> Result<()> {
    caller.require(Permission::StockWrite)
}
fn yes() -> bool {
    true
}

// ---- warehouses ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseCreate {
    #[validate(custom(function = "ordo_core::validate::code"))]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,50}$")]
    pub code: String,
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Confirmed orders reserve from the default warehouse (one at most).
    #[serde(default)]
    pub is_default: bool,
    /// A quarantine warehouse takes returned goods that may not be sold yet.
    #[serde(default)]
    pub quarantine: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

/// A place stock is kept.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Warehouse {
    pub id: i64,
    #[serde(flatten)]
    pub data: WarehouseCreate,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = warehouses, treat_none_as_null = true)]
pub struct WarehouseRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub code: String,
    pub name: String,
    pub is_default: bool,
    pub quarantine: bool,
    pub active: bool,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl Record for WarehouseRow {
    type Create = WarehouseCreate;
    type Model = Warehouse;
    fn from_create(id: i64, c: &WarehouseCreate, version: i64, created_at: PrimitiveDateTime) -> Self {
        WarehouseRow {
            id,
            code: c.code.clone(),
            name: c.name.trim().to_string(),
            is_default: c.is_default,
            quarantine: c.quarantine,
            active: c.active,
            version,
            created_at,
            updated_at: created_at,
        }
    }
    fn to_create(&self) -> Result<WarehouseCreate> {
        Ok(WarehouseCreate {
            code: self.code.clone(),
            name: self.name.clone(),
            is_default: self.is_default,
            quarantine: self.quarantine,
            active: self.active,
        })
    }
    fn to_model(&self) -> Result<Warehouse> {
        Ok(Warehouse {
            id: self.id,
            data: self.to_create()?,
            version: self.version,
            created_at: self.created_at.assume_utc(),
            updated_at: self.updated_at.assume_utc(),
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

pub mod warehouse_service {
    use super::*;
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub active: Option<bool>,
    }
    fn filter<'a>(q: Query<'a>, f: &Filter) -> Query<'a> {
        match f.active {
            Some(a) => q.filter(warehouses::active.eq(a)),
            None => q,
        }
    }
    /// One default at most: making this one the default clears the others.
    fn check(conn: &mut DbConnection, _caller: &Caller, c: &WarehouseCreate, id: Option<i64>) -> Result<()> {
        if c.is_default {
            if c.quarantine {
                return Err(DomainError::field(
                    "is_default",
                    "quarantine",
                    "a quarantine warehouse cannot be the default",
                ));
            }
            diesel::update(
                warehouses::table.filter(warehouses::is_default.eq(true)).filter(warehouses::id.ne(id.unwrap_or(-1))),
            )
            .set((warehouses::is_default.eq(false), warehouses::version.eq(warehouses::version + 1)))
            .execute(conn)?;
        }
        Ok(())
    }
    ordo_db::crud_service!(entity: "warehouse", name: "warehouse", table: warehouses, row: WarehouseRow);
}

/// A warehouse named in a request body: 404 naming the field when it does not exist,
/// 422 when it is deactivated.
pub fn referenced_warehouse(conn: &mut DbConnection, field: &str, id: i64) -> Result<WarehouseRow> {
    let w: WarehouseRow = warehouses::table
        .find(id)
        .select(WarehouseRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::reference_not_found("warehouse", field, id))?;
    if !w.active {
        return Err(DomainError::field(field, "inactive", format!("warehouse {} is deactivated", w.code)));
    }
    Ok(w)
}

/// A warehouse stock may be reserved or promised from: quarantined goods are not sold
/// until they are transferred out (422 `quarantine`).
pub fn sellable_warehouse(conn: &mut DbConnection, field: &str, id: i64) -> Result<WarehouseRow> {
    let w = referenced_warehouse(conn, field, id)?;
    if w.quarantine {
        return Err(DomainError::field(
            field,
            "quarantine",
            format!("warehouse {} is a quarantine warehouse: transfer the goods out before selling them", w.code),
        ));
    }
    Ok(w)
}

/// Ids of the quarantine warehouses (left out of availability over all warehouses).
pub fn quarantine_ids(conn: &mut DbConnection) -> Result<Vec<i64>> {
    Ok(ordo_db::refs::warehouses(conn)?.iter().filter(|w| w.quarantine).map(|w| w.id).collect())
}

/// The id of the default warehouse confirmed orders reserve from.
pub fn default_warehouse(conn: &mut DbConnection) -> Result<i64> {
    ordo_db::refs::warehouses(conn)?
        .iter()
        .find(|w| w.is_default && w.active)
        .map(|w| w.id)
        .ok_or_else(|| DomainError::rule("no_default_warehouse", "mark an active warehouse as the default first"))
}

// ---- balances --------------------------------------------------------------------------

/// Creates the balance row if it is missing (the one backend-specific upsert).
pub fn ensure_balance(conn: &mut DbConnection, item: i64, wh: i64) -> Result<()> {
    let row = (
        stock_balances::item_id.eq(item),
        stock_balances::warehouse_id.eq(wh),
        stock_balances::on_hand.eq(0i64),
        stock_balances::reserved.eq(0i64),
    );
    match conn {
        DbConnection::Pg(c) => {
            diesel::insert_into(stock_balances::table)
                .values(row)
                .on_conflict((stock_balances::item_id, stock_balances::warehouse_id))
                .do_nothing()
                .execute(c)?;
        }
        DbConnection::Sqlite(c) => {
            diesel::insert_or_ignore_into(stock_balances::table).values(row).execute(c)?;
        }
    }
    Ok(())
}

/// On hand and reserved per (item, warehouse), as locked by [`lock_balances`].
pub type Balances = std::collections::HashMap<(i64, i64), (i64, i64)>;

/// Rows of integers as one JSON array, the bind SQLite's `json_each(?)` reads a
/// statement's rows from (PostgreSQL binds arrays instead).
fn json_rows<T: serde::Serialize>(rows: &[T]) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| ordo_core::DomainError::Internal(e.to_string()))
}

/// Locks the balances of these (item, warehouse) pairs for the rest of the transaction
/// (PostgreSQL; in a fixed order, so two use cases never wait on each other in a
/// circle) and reads them. Every use case that changes stock takes these locks before
/// it reads the order lines and reservations it decides on: a concurrent change of the
/// same stock waits, then sees this one's result. `create` first adds missing rows.
pub fn lock_balances(conn: &mut DbConnection, pairs: &[(i64, i64)], create: bool) -> Result<Balances> {
    let mut pairs = pairs.to_vec();
    pairs.sort_unstable();
    pairs.dedup();
    if pairs.is_empty() {
        return Ok(Balances::new());
    }
    if create {
        let rows: Vec<_> = pairs
            .iter()
            .map(|(i, w)| {
                (
                    stock_balances::item_id.eq(*i),
                    stock_balances::warehouse_id.eq(*w),
                    stock_balances::on_hand.eq(0i64),
                    stock_balances::reserved.eq(0i64),
                )
            })
            .collect();
        match conn {
            DbConnection::Pg(c) => {
                diesel::insert_into(stock_balances::table)
                    .values(&rows)
                    .on_conflict((stock_balances::item_id, stock_balances::warehouse_id))
                    .do_nothing()
                    .execute(c)?;
            }
            DbConnection::Sqlite(c) => {
                diesel::insert_or_ignore_into(stock_balances::table).values(&rows).execute(c)?;
            }
        }
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        item_id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        warehouse_id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        on_hand: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        reserved: i64,
    }
    // One statement text for any number of pairs (arrays, or a JSON array on SQLite):
    // prepared once per connection.
    use diesel::sql_types::{Array, BigInt, Text};
    let rows: Vec<Row> = match conn {
        DbConnection::Pg(c) => ordo_db::Prepared(
            diesel::sql_query(
                "SELECT item_id, warehouse_id, on_hand, reserved FROM stock_balances \
                 WHERE (item_id, warehouse_id) IN (SELECT * FROM unnest($1, $2)) \
                 ORDER BY item_id, warehouse_id FOR UPDATE",
            )
            .bind::<Array<BigInt>, _>(pairs.iter().map(|p| p.0).collect::<Vec<i64>>())
            .bind::<Array<BigInt>, _>(pairs.iter().map(|p| p.1).collect::<Vec<i64>>()),
        )
        .load(c)?,
        DbConnection::Sqlite(c) => {
            let json = json_rows(&pairs)?;
            ordo_db::Prepared(
                diesel::sql_query(
                    "SELECT item_id, warehouse_id, on_hand, reserved FROM stock_balances \
                     WHERE (item_id, warehouse_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?)) \
                     ORDER BY item_id, warehouse_id",
                )
                .bind::<Text, _>(json),
            )
            .load(c)?
        }
    };
    Ok(rows.into_iter().map(|r| ((r.item_id, r.warehouse_id), (r.on_hand, r.reserved))).collect())
}

/// 422 `insufficient_stock`, naming the request field.
pub fn insufficient(item: i64, wh: i64, field: &str) -> DomainError {
    DomainError::Rule {
        code: "insufficient_stock",
        detail: format!("not enough unreserved stock of item {item} in warehouse {wh}"),
        errors: vec![FieldError::new(field, "insufficient_stock", "more than is available")],
    }
}

/// Adds `q` (signed) to on hand. A decrease must leave on hand ≥ reserved unless the
/// item allows negative stock: the condition sits in the UPDATE itself.
pub fn change_on_hand(
    conn: &mut DbConnection,
    item: i64,
    wh: i64,
    q: i64,
    allow_negative: bool,
    field: &str,
) -> Result<()> {
    ensure_balance(conn, item, wh)?;
    let target =
        stock_balances::table.filter(stock_balances::item_id.eq(item)).filter(stock_balances::warehouse_id.eq(wh));
    let n = if q < 0 && !allow_negative {
        diesel::update(target.filter((stock_balances::on_hand - stock_balances::reserved).ge(-q)))
            .set(stock_balances::on_hand.eq(stock_balances::on_hand + q))
            .execute(conn)?
    } else {
        diesel::update(target).set(stock_balances::on_hand.eq(stock_balances::on_hand + q)).execute(conn)?
    };
    if n == 0 {
        return Err(insufficient(item, wh, field));
    }
    Ok(())
}

/// Reserves exactly `q` or nothing: `on_hand - reserved >= q` in the UPDATE.
pub fn reserve_exact(conn: &mut DbConnection, item: i64, wh: i64, q: i64) -> Result<bool> {
    let n = diesel::update(
        stock_balances::table
            .filter(stock_balances::item_id.eq(item))
            .filter(stock_balances::warehouse_id.eq(wh))
            .filter((stock_balances::on_hand - stock_balances::reserved).ge(q)),
    )
    .set(stock_balances::reserved.eq(stock_balances::reserved + q))
    .execute(conn)?;
    Ok(n == 1)
}

/// Reserves each `((item, warehouse), quantity)` exactly, in one statement (an order's
/// lines at once): answers how many balances took their quantity. Each row's guard
/// `on_hand - reserved >= q` is in the UPDATE, as in `reserve_exact`.
pub fn reserve_all(conn: &mut DbConnection, takes: &[((i64, i64), i64)]) -> Result<usize> {
    if takes.is_empty() {
        return Ok(0);
    }
    // One statement text for any number of balances, the takes bound as arrays (a JSON
    // array on SQLite): prepared once per connection (`ordo_db::Prepared`, loaded).
    use diesel::sql_types::{Array, BigInt, Text};
    use ordo_db::prepared::One;
    Ok(match conn {
        DbConnection::Pg(c) => {
            let col = |f: fn(&((i64, i64), i64)) -> i64| takes.iter().map(f).collect::<Vec<i64>>();
            ordo_db::Prepared(
                diesel::sql_query(
                    "UPDATE stock_balances b SET reserved = b.reserved + t.q \
                     FROM unnest($1, $2, $3) AS t(item_id, warehouse_id, q) \
                     WHERE b.item_id = t.item_id AND b.warehouse_id = t.warehouse_id AND b.on_hand - b.reserved >= t.q \
                     RETURNING 1 AS one",
                )
                .bind::<Array<BigInt>, _>(col(|t| t.0 .0))
                .bind::<Array<BigInt>, _>(col(|t| t.0 .1))
                .bind::<Array<BigInt>, _>(col(|t| t.1)),
            )
            .load::<One>(c)?
            .len()
        }
        DbConnection::Sqlite(c) => {
            let json = json_rows(&takes.iter().map(|((i, w), q)| [*i, *w, *q]).collect::<Vec<_>>())?;
            ordo_db::Prepared(
                diesel::sql_query(
                    "UPDATE stock_balances SET reserved = reserved + t.q \
                     FROM (SELECT value ->> 0 AS item_id, value ->> 1 AS warehouse_id, value ->> 2 AS q \
                           FROM json_each(?)) AS t \
                     WHERE stock_balances.item_id = t.item_id AND stock_balances.warehouse_id = t.warehouse_id \
                       AND stock_balances.on_hand - stock_balances.reserved >= t.q \
                     RETURNING 1 AS one",
                )
                .bind::<Text, _>(json),
            )
            .load::<One>(c)?
            .len()
        }
    })
}

pub fn unreserve(conn: &mut DbConnection, item: i64, wh: i64, q: i64) -> Result<()> {
    diesel::update(
        stock_balances::table.filter(stock_balances::item_id.eq(item)).filter(stock_balances::warehouse_id.eq(wh)),
    )
    .set(stock_balances::reserved.eq(stock_balances::reserved - q))
    .execute(conn)?;
    Ok(())
}

/// On hand and reserved of one item in one warehouse.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub item_id: i64,
    pub warehouse_id: i64,
    pub on_hand: Quantity,
    pub reserved: Quantity,
    /// on hand − reserved.
    pub available: Quantity,
}

#[derive(Debug, Clone, Default)]
pub struct BalanceFilter {
    pub item_id: Option<i64>,
    pub warehouse_id: Option<i64>,
}

pub fn balances(
    conn: &mut DbConnection,
    caller: &Caller,
    f: &BalanceFilter,
    page: &PageRequest,
) -> Result<Page<Balance>> {
    read(caller)?;
    let mut q = stock_balances::table
        .select((
            stock_balances::id,
            stock_balances::item_id,
            stock_balances::warehouse_id,
            stock_balances::on_hand,
            stock_balances::reserved,
        ))
        .into_boxed();
    if let Some(i) = f.item_id {
        q = q.filter(stock_balances::item_id.eq(i));
    }
    if let Some(w) = f.warehouse_id {
        q = q.filter(stock_balances::warehouse_id.eq(w));
    }
    let rows: Vec<(i64, i64, i64, i64, i64)> = ordo_db::keyset!(q, page, stock_balances::id).load(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.0).map(|(_, item_id, warehouse_id, on_hand, reserved)| Balance {
        item_id,
        warehouse_id,
        on_hand: Quantity::from_scaled(on_hand),
        reserved: Quantity::from_scaled(reserved),
        available: Quantity::from_scaled(on_hand - reserved),
    }))
}

// ---- the ledger --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Receipt,
    Adjustment,
    Transfer,
    Delivery,
    Return,
}

impl MovementKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Adjustment => "adjustment",
            Self::Transfer => "transfer",
            Self::Delivery => "delivery",
            Self::Return => "return",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Receipt, Self::Adjustment, Self::Transfer, Self::Delivery, Self::Return]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One immutable stock movement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    pub kind: MovementKind,
    /// In the item's base unit; negative out, positive in.
    pub quantity: Quantity,
    /// Per base unit, in the base currency.
    pub unit_cost: Option<Money>,
    /// The document the movement belongs to (`delivery`, `return`, ...); null for a
    /// sales agent when it is another agent's customer's document.
    pub doc_kind: Option<String>,
    pub doc_id: Option<i64>,
    pub reason: Option<String>,
    /// `user:<id>` or `client:<id>`.
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stock_ledger, treat_none_as_default_value = false)]
pub struct LedgerRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub item_id: i64,
    pub warehouse_id: i64,
    pub kind: String,
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    pub doc_kind: Option<String>,
    pub doc_id: Option<i64>,
    pub reason: Option<String>,
    pub actor: String,
    pub at: PrimitiveDateTime,
}

impl LedgerRow {
    pub fn to_model(&self) -> Result<LedgerEntry> {
        Ok(LedgerEntry {
            id: self.id,
            item_id: self.item_id,
            warehouse_id: self.warehouse_id,
            kind: MovementKind::parse(&self.kind)
                .ok_or_else(|| DomainError::Internal(format!("ledger {}: kind {:?}", self.id, self.kind)))?,
            quantity: Quantity::from_scaled(self.quantity),
            unit_cost: self.unit_cost.map(Money::from_scaled),
            doc_kind: self.doc_kind.clone(),
            doc_id: self.doc_id,
            reason: self.reason.clone(),
            actor: self.actor.clone(),
            at: self.at.assume_utc(),
        })
    }
}

/// A movement to post.
pub struct Movement<'a> {
    pub item_id: i64,
    pub warehouse_id: i64,
    pub kind: MovementKind,
    pub quantity: i64,
    pub unit_cost: Option<i64>,
    pub doc: Option<(&'a str, i64)>,
    pub reason: Option<String>,
    /// The request field a stock shortage is reported on.
    pub field: &'a str,
}

/// Posts one movement: balance (conditionally) and ledger entry, together.
pub fn post(conn: &mut DbConnection, caller: &Caller, m: Movement<'_>, allow_negative: bool) -> Result<LedgerRow> {
    change_on_hand(conn, m.item_id, m.warehouse_id, m.quantity, allow_negative, m.field)?;
    let row = LedgerRow {
        id: 0,
        item_id: m.item_id,
        warehouse_id: m.warehouse_id,
        kind: m.kind.as_str().into(),
        quantity: m.quantity,
        unit_cost: m.unit_cost,
        doc_kind: m.doc.map(|d| d.0.to_string()),
        doc_id: m.doc.map(|d| d.1),
        reason: m.reason,
        actor: caller.principal.actor_key(),
        at: now(),
    };
    Ok(diesel::insert_into(stock_ledger::table).values(&row).returning(stock_ledger::all_columns).get_result(conn)?)
}

/// The stock facts of an item: it must exist, be a stock item, and may allow negative stock.
pub fn stock_item(conn: &mut DbConnection, field: &str, id: i64) -> Result<bool> {
    let row: Option<(String, bool)> =
        items::table.find(id).select((items::kind, items::allow_negative_stock)).first(conn).optional()?;
    match row {
        None => Err(DomainError::reference_not_found("item", field, id)),
        Some((kind, _)) if kind != "stock" => {
            Err(DomainError::field(field, "not_stock", format!("item {id} is a {kind} item and keeps no stock")))
        }
        Some((_, neg)) => Ok(neg),
    }
}

#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub item_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub kind: Option<MovementKind>,
}

pub fn ledger(
    conn: &mut DbConnection,
    caller: &Caller,
    f: &LedgerFilter,
    page: &PageRequest,
) -> Result<Page<LedgerEntry>> {
    read(caller)?;
    let mut q = stock_ledger::table.select(LedgerRow::as_select()).into_boxed();
    if let Some(i) = f.item_id {
        q = q.filter(stock_ledger::item_id.eq(i));
    }
    if let Some(w) = f.warehouse_id {
        q = q.filter(stock_ledger::warehouse_id.eq(w));
    }
    if let Some(k) = f.kind {
        q = q.filter(stock_ledger::kind.eq(k.as_str()));
    }
    let rows = Page::from_rows(ordo_db::keyset!(q, page, stock_ledger::id).load(conn)?, page, |r: &LedgerRow| r.id);
    let mut data: Vec<LedgerEntry> = rows.data.iter().map(LedgerRow::to_model).collect::<Result<_>>()?;
    redact_foreign_documents(conn, caller, &mut data)?;
    Ok(Page { data, next_cursor: rows.next_cursor, total: rows.total })
}

/// A sales agent sees every movement (stock is not secret) but not which of another
/// agent's deliveries or returns it belongs to: those entries lose their document
/// and reason.
fn redact_foreign_documents(conn: &mut DbConnection, caller: &Caller, data: &mut [LedgerEntry]) -> Result<()> {
    use ordo_db::schema::{deliveries, returns};
    let ordo_core::Scope::OwnCustomers(me) = caller.scope() else { return Ok(()) };
    let ids_of = |kind: &str| -> Vec<i64> {
        data.iter().filter(|e| e.doc_kind.as_deref() == Some(kind)).filter_map(|e| e.doc_id).collect()
    };
    let (d_ids, r_ids) = (ids_of(crate::deliveries::DELIVERY), ids_of(crate::deliveries::RETURN));
    let mine = ordo_crm::scope::own_customer_ids(me);
    let own_deliveries: Vec<i64> = if d_ids.is_empty() {
        vec![]
    } else {
        deliveries::table
            .filter(deliveries::id.eq_any(&d_ids))
            .filter(deliveries::customer_id.eq_any(mine))
            .select(deliveries::id)
            .load(conn)?
    };
    let own_returns: Vec<i64> = if r_ids.is_empty() {
        vec![]
    } else {
        returns::table
            .filter(returns::id.eq_any(&r_ids))
            .filter(returns::customer_id.eq_any(ordo_crm::scope::own_customer_ids(me)))
            .select(returns::id)
            .load(conn)?
    };
    for e in data.iter_mut() {
        let visible = match (e.doc_kind.as_deref(), e.doc_id) {
            (Some(crate::deliveries::DELIVERY), Some(d)) => own_deliveries.contains(&d),
            (Some(crate::deliveries::RETURN), Some(r)) => own_returns.contains(&r),
            _ => true,
        };
        if !visible {
            e.doc_kind = None;
            e.doc_id = None;
            e.reason = None;
        }
    }
    Ok(())
}

// ---- postings ------------------------------------------------------------------------------

/// `POST /stock/receipts`: goods in.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRequest {
    pub item_id: i64,
    pub warehouse_id: i64,
    /// In the item's base unit.
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    /// Per base unit, in the base currency.
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub unit_cost: Money,
    /// e.g. the supplier's delivery note.
    #[validate(length(min = 1, max = 200))]
    pub reference: Option<String>,
}

/// `POST /stock/adjustments`: a count correction.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    pub item_id: i64,
    pub warehouse_id: i64,
    /// Signed: positive found, negative missing. Not zero.
    pub quantity: Quantity,
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// `POST /stock/transfers`: from one warehouse to another.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub item_id: i64,
    pub from_warehouse_id: i64,
    pub to_warehouse_id: i64,
    #[validate(custom(function = "ordo_core::validate::positive_qty"))]
    pub quantity: Quantity,
    #[validate(length(min = 1, max = 500))]
    pub reason: Option<String>,
}

/// What a posting wrote: its ledger entries and the balances after it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Posting {
    pub entries: Vec<LedgerEntry>,
    pub balances: Vec<Balance>,
    /// Back-ordered order lines this receipt reserved stock for.
    pub reserved_for: Vec<crate::reservations::Allocation>,
}

fn balance_of(conn: &mut DbConnection, item: i64, wh: i64) -> Result<Balance> {
    let (on_hand, reserved): (i64, i64) = stock_balances::table
        .filter(stock_balances::item_id.eq(item))
        .filter(stock_balances::warehouse_id.eq(wh))
        .select((stock_balances::on_hand, stock_balances::reserved))
        .first(conn)?;
    Ok(Balance {
        item_id: item,
        warehouse_id: wh,
        on_hand: Quantity::from_scaled(on_hand),
        reserved: Quantity::from_scaled(reserved),
        available: Quantity::from_scaled(on_hand - reserved),
    })
}

pub fn receive(conn: &mut DbConnection, caller: &Caller, r: ReceiptRequest) -> Result<Posting> {
    write(caller)?;
    let neg = stock_item(conn, "item_id", r.item_id)?;
    referenced_warehouse(conn, "warehouse_id", r.warehouse_id)?;
    lock_balances(conn, &[(r.item_id, r.warehouse_id)], true)?;
    let entry = post(
        conn,
        caller,
        Movement {
            item_id: r.item_id,
            warehouse_id: r.warehouse_id,
            kind: MovementKind::Receipt,
            quantity: r.quantity.to_scaled(),
            unit_cost: Some(r.unit_cost.to_scaled()),
            doc: None,
            reason: r.reference,
            field: "quantity",
        },
        neg,
    )?;
    // Stock that arrives serves back-orders first, oldest requested date first.
    let reserved_for = crate::reservations::fill_backorders(conn, r.item_id, r.warehouse_id)?;
    Ok(Posting {
        entries: vec![entry.to_model()?],
        balances: vec![balance_of(conn, r.item_id, r.warehouse_id)?],
        reserved_for,
    })
}

pub fn adjust(conn: &mut DbConnection, caller: &Caller, r: AdjustmentRequest) -> Result<Posting> {
    write(caller)?;
    if r.quantity.to_scaled() == 0 {
        return Err(DomainError::field("quantity", "zero", "an adjustment changes stock: not 0"));
    }
    let neg = stock_item(conn, "item_id", r.item_id)?;
    referenced_warehouse(conn, "warehouse_id", r.warehouse_id)?;
    lock_balances(conn, &[(r.item_id, r.warehouse_id)], true)?;
    let entry = post(
        conn,
        caller,
        Movement {
            item_id: r.item_id,
            warehouse_id: r.warehouse_id,
            kind: MovementKind::Adjustment,
            quantity: r.quantity.to_scaled(),
            unit_cost: None,
            doc: None,
            reason: Some(r.reason),
            field: "quantity",
        },
        neg,
    )?;
    let reserved_for = if r.quantity.to_scaled() > 0 {
        crate::reservations::fill_backorders(conn, r.item_id, r.warehouse_id)?
    } else {
        vec![]
    };
    Ok(Posting {
        entries: vec![entry.to_model()?],
        balances: vec![balance_of(conn, r.item_id, r.warehouse_id)?],
        reserved_for,
    })
}

pub fn transfer(conn: &mut DbConnection, caller: &Caller, r: TransferRequest) -> Result<Posting> {
    write(caller)?;
    if r.from_warehouse_id == r.to_warehouse_id {
        return Err(DomainError::field("to_warehouse_id", "same_warehouse", "must differ from from_warehouse_id"));
    }
    let neg = stock_item(conn, "item_id", r.item_id)?;
    referenced_warehouse(conn, "from_warehouse_id", r.from_warehouse_id)?;
    referenced_warehouse(conn, "to_warehouse_id", r.to_warehouse_id)?;
    lock_balances(conn, &[(r.item_id, r.from_warehouse_id), (r.item_id, r.to_warehouse_id)], true)?;
    let q = r.quantity.to_scaled();
    let out = post(
        conn,
        caller,
        Movement {
            item_id: r.item_id,
            warehouse_id: r.from_warehouse_id,
            kind: MovementKind::Transfer,
            quantity: -q,
            unit_cost: None,
            doc: None,
            reason: r.reason.clone(),
            field: "quantity",
        },
        neg,
    )?;
    let inn = post(
        conn,
        caller,
        Movement {
            item_id: r.item_id,
            warehouse_id: r.to_warehouse_id,
            kind: MovementKind::Transfer,
            quantity: q,
            unit_cost: None,
            doc: Some(("stock_ledger", out.id)),
            reason: r.reason,
            field: "quantity",
        },
        neg,
    )?;
    let reserved_for = crate::reservations::fill_backorders(conn, r.item_id, r.to_warehouse_id)?;
    Ok(Posting {
        entries: vec![out.to_model()?, inn.to_model()?],
        balances: vec![
            balance_of(conn, r.item_id, r.from_warehouse_id)?,
            balance_of(conn, r.item_id, r.to_warehouse_id)?,
        ],
        reserved_for,
    })
}
