//! The one path every sales document takes — quotations, sales orders, blanket
//! orders, invoices and credit notes: found within the caller's scope, locked and
//! checked against `If-Match` before a write, moved between states with an audit
//! entry, edited line by line through `document_lines`, deleted with its lines, and
//! its history read. A document kind implements [`Document`] (the table-bound half
//! through [`document_table!`](crate::document_table)); what is particular to a kind
//! (approval stages, claims on order lines, call-offs) stays in its module.

use diesel::prelude::*;
use ordo_core::body::{patched, MergePatch};
use ordo_core::util::{check_version, to_json};
use ordo_core::{Caller, Currency, DomainError, Page, PageRequest, Permission, Result};
use ordo_db::audit::{self, Entry};
use ordo_db::schema::document_lines;
use ordo_db::DbConnection;
use serde::Serialize;

use crate::lines::{self, DocKind, HeaderPricing, LineInput, LineRow, PricingHeader};

/// A document's status enum.
pub trait DocStatus: Copy + PartialEq {
    fn name(&self) -> &'static str;
}

/// A document kind's header row.
pub trait Document: Clone + Sized {
    /// The API model.
    type Model: Serialize;
    type Status: DocStatus;
    /// The header table (also the lock target).
    const TABLE: &'static str;
    /// The audit entity.
    const ENTITY: &'static str;
    /// What a 404 calls it.
    const NOUN: &'static str;
    const READ: Permission;
    const WRITE: Permission;

    // Table-bound; written by `document_table!`.
    fn id(&self) -> i64;
    fn number(&self) -> &str;
    fn version(&self) -> i64;
    /// Next version at `now`, after `current`.
    fn bump(&mut self, current: i64);
    /// The row if the caller's scope includes its customer.
    /// The row if the caller's scope shows it; `lock` takes the row lock with the read
    /// (PostgreSQL; SQLite's one writer needs none).
    fn find_scoped(conn: &mut DbConnection, caller: &Caller, id: i64, lock: bool) -> Result<Option<Self>>;
    /// Writes the row if it is still at version `expected` (409 otherwise).
    fn save(&self, conn: &mut DbConnection, expected: i64) -> Result<Self>;
    fn insert(&self, conn: &mut DbConnection) -> Result<Self>;
    fn delete_row(conn: &mut DbConnection, id: i64) -> Result<()>;

    // The kind's own.
    /// What the document calls itself in messages ("sales order", "credit note").
    fn label(&self) -> &'static str;
    /// Whose lines in `document_lines` are this document's.
    fn doc_kind(&self) -> DocKind;
    fn status(&self) -> Result<Self::Status>;
    fn set_status(&mut self, to: Self::Status, reason: Option<String>);
    fn archived(&self) -> bool;
    /// Only drafts change their header and lines.
    fn is_draft(&self) -> Result<bool>;
    /// The 409 for a change of a document that is no longer a draft.
    fn not_draft(&self) -> Result<DomainError> {
        Ok(DomainError::conflict(
            "not_draft",
            format!("{} {} is {}: only drafts change", self.label(), self.number(), self.status()?.name()),
        ))
    }
    fn model(&self, lines: Option<&[LineRow]>) -> Result<Self::Model>;
    /// What the audit trail records of an edit: the header and totals (line changes are
    /// in the lines themselves).
    fn audit_view(&self, _lines: &[LineRow]) -> Result<Self::Model> {
        self.model(None)
    }
}

/// A document whose lines the price engine prices from its header.
pub trait Priced: Document {
    /// The header as written (`POST` body; PATCH merges into it).
    type Header: Serialize + serde::de::DeserializeOwned + validator::Validate;
    fn pricing_header(&self) -> Result<PricingHeader>;
    fn set_pricing(&mut self, p: &HeaderPricing);
    fn header(&self) -> Result<Self::Header>;
    /// Checks a changed header's references and fills its defaults.
    fn resolve(
        conn: &mut DbConnection,
        caller: &Caller,
        h: Self::Header,
        current: Option<&Self>,
    ) -> Result<Self::Header>;
    fn apply(&mut self, h: &Self::Header);
    /// Refuses a line edit this kind does not allow; by default, call-off lines (they
    /// come from a blanket order's call-off).
    fn check_line_edit(&self, edited: &EditedLines) -> Result<()> {
        lines::no_call_offs(edited.touched.iter().map(|(l, _)| (String::new(), l)))
    }
    /// A header PATCH of a document past its draft stage: refused unless the kind
    /// allows some fields (an order's terms).
    fn update_after_draft(
        _conn: &mut DbConnection,
        _caller: &Caller,
        current: Self,
        _p: &MergePatch,
    ) -> Result<Self::Model> {
        Err(current.not_draft()?)
    }
}

/// Implements the table-bound half of [`Document`] for a header row with `id`,
/// `number`, `customer_id`, `version` and `updated_at` (and [`DocStatus`] for its
/// status enum); the rest goes in `rest`. The `sales` form adds what quotations,
/// orders and blanket orders share: stored `status`/`status_reason`, `archived_at`,
/// a `draft` state, and the sales-documents permissions.
#[macro_export]
macro_rules! document_table {
    (sales $row:ty, $table:ident, entity: $entity:expr, noun: $noun:expr, kind: $kind:expr,
     model: $model:ty, status: $status:ty, { $($rest:tt)* }) => {
        $crate::document_table!($row, $table, entity: $entity, noun: $noun, read: SalesDocsRead,
            write: SalesDocsWrite, model: $model, status: $status, {
            fn label(&self) -> &'static str {
                $noun
            }
            fn doc_kind(&self) -> $crate::lines::DocKind {
                $kind
            }
            fn set_status(&mut self, to: $status, reason: Option<String>) {
                self.status = to.as_str().into();
                if reason.is_some() {
                    self.status_reason = reason;
                }
            }
            fn archived(&self) -> bool {
                self.archived_at.is_some()
            }
            fn is_draft(&self) -> ordo_core::Result<bool> {
                Ok(<Self as $crate::core::Document>::status(self)?.as_str() == "draft")
            }
            $($rest)*
        });
    };
    ($row:ty, $table:ident, entity: $entity:expr, noun: $noun:expr, read: $read:ident, write: $write:ident,
     model: $model:ty, status: $status:ty, { $($rest:tt)* }) => {
        impl $crate::core::Document for $row {
            type Model = $model;
            type Status = $status;
            const TABLE: &'static str = stringify!($table);
            const ENTITY: &'static str = $entity;
            const NOUN: &'static str = $noun;
            const READ: ordo_core::Permission = ordo_core::Permission::$read;
            const WRITE: ordo_core::Permission = ordo_core::Permission::$write;
            fn id(&self) -> i64 {
                self.id
            }
            fn number(&self) -> &str {
                &self.number
            }
            fn version(&self) -> i64 {
                self.version
            }
            fn bump(&mut self, current: i64) {
                self.version = current + 1;
                self.updated_at = ordo_core::time_util::now();
            }
            fn find_scoped(
                conn: &mut ordo_db::DbConnection,
                caller: &ordo_core::Caller,
                id: i64,
                lock: bool,
            ) -> ordo_core::Result<Option<Self>> {
                use diesel::prelude::*;
                // The reference data's generation rides along (`ordo_db::refcache`).
                let found: Option<(Self, i64)> = match conn {
                    // A use case that writes locks the row with the same read on
                    // PostgreSQL (unboxed: diesel boxes no locking clause).
                    ordo_db::DbConnection::Pg(c) if lock => {
                        let q = $table::table.filter($table::id.eq(id)).select((<$row>::as_select(), ordo_db::refcache::generation()));
                        match caller.scope() {
                            ordo_core::Scope::All => q.for_update().first(c).optional()?,
                            ordo_core::Scope::OwnCustomers(me) => q
                                .filter($table::customer_id.eq_any(ordo_crm::scope::own_customer_ids(me)))
                                .for_update()
                                .first(c)
                                .optional()?,
                        }
                    }
                    conn => {
                        let q = $table::table.filter($table::id.eq(id)).select((<$row>::as_select(), ordo_db::refcache::generation())).into_boxed();
                        $crate::scoped!(q, caller, $table::customer_id).first(conn).optional()?
                    }
                };
                Ok(found.map(|(row, generation)| {
                    ordo_db::refcache::observe(generation);
                    row
                }))
            }
            fn save(&self, conn: &mut ordo_db::DbConnection, expected: i64) -> ordo_core::Result<Self> {
                use diesel::prelude::*;
                ordo_db::Prepared(
                    diesel::update($table::table.filter($table::id.eq(self.id)).filter($table::version.eq(expected)))
                        .set(self)
                        .returning($table::all_columns),
                )
                .get_result(conn)
                    .optional()?
                    .ok_or_else(|| ordo_core::DomainError::stale_version(expected))
            }
            fn insert(&self, conn: &mut ordo_db::DbConnection) -> ordo_core::Result<Self> {
                use diesel::prelude::*;
                Ok(ordo_db::Prepared(diesel::insert_into($table::table).values(self).returning($table::all_columns))
                    .get_result(conn)?)
            }
            fn delete_row(conn: &mut ordo_db::DbConnection, id: i64) -> ordo_core::Result<()> {
                use diesel::prelude::*;
                diesel::delete($table::table.find(id)).execute(conn)?;
                Ok(())
            }
            $($rest)*
        }

        impl $crate::core::DocStatus for $status {
            fn name(&self) -> &'static str {
                self.as_str()
            }
        }
    };
}

/// The pricing half of [`Priced`] for a header row with the columns quotations and
/// orders share (`doc_date`, `price_list_id`, `coupon_code`, `campaign_id`,
/// `territory_id`, the shipping country in `terms`, and `net`/`gross`/`base_net`/`pricing`).
#[macro_export]
macro_rules! priced_by_header {
    () => {
        fn pricing_header(&self) -> ordo_core::Result<$crate::lines::PricingHeader> {
            Ok($crate::lines::PricingHeader {
                customer_id: self.customer_id,
                currency: self.currency()?,
                date: self.doc_date,
                price_list_id: self.price_list_id,
                coupon_code: self.coupon_code.clone(),
                campaign_id: self.campaign_id,
                territory_id: self.territory_id,
                shipping_country: self.terms().shipping_country,
            })
        }
        fn set_pricing(&mut self, p: &$crate::lines::HeaderPricing) {
            (self.net, self.gross, self.base_net, self.pricing) = p.columns();
        }
    };
}

/// The document, if the caller may see its customer (404 otherwise).
pub fn find<D: Document>(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<D> {
    D::find_scoped(conn, caller, id, false)?.ok_or_else(|| DomainError::not_found(D::NOUN, id))
}

/// `GET /{documents}/{id}`: the document with its lines.
pub fn get<D: Document>(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<D::Model> {
    caller.require(D::READ)?;
    let row: D = find(conn, caller, id)?;
    let ls = lines::load(conn, row.doc_kind(), id)?;
    row.model(Some(&ls))
}

/// `GET /{documents}/{id}/history`
pub fn history<D: Document>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    page: &PageRequest,
) -> Result<Page<Entry>> {
    caller.require(D::READ)?;
    find::<D>(conn, caller, id)?;
    audit::history(conn, D::ENTITY, id, page)
}

/// [`find`], locking the row for the rest of the transaction with the same read
/// (PostgreSQL).
pub fn find_locked<D: Document>(conn: &mut DbConnection, caller: &Caller, id: i64) -> Result<D> {
    D::find_scoped(conn, caller, id, true)?.ok_or_else(|| DomainError::not_found(D::NOUN, id))
}

/// The document, locked for the rest of the transaction (PostgreSQL) so what the use
/// case reads next is what it changes, visible and writable by the caller, at the
/// version they read, and not archived.
pub fn for_write<D: Document>(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<D> {
    let row: D = find_locked(conn, caller, id)?;
    caller.require(D::WRITE)?;
    check_version(if_match, row.version())?;
    writable(&row)?;
    Ok(row)
}

/// An archived document is read-only (409 `archived`).
pub fn writable<D: Document>(row: &D) -> Result<()> {
    if row.archived() {
        return Err(DomainError::conflict(
            "archived",
            format!("{} {} is archived and read-only", row.label(), row.number()),
        ));
    }
    Ok(())
}

/// [`for_write`], and a draft.
pub fn editable<D: Document>(conn: &mut DbConnection, caller: &Caller, id: i64, if_match: Option<i64>) -> Result<D> {
    let row: D = for_write(conn, caller, id, if_match)?;
    if !row.is_draft()? {
        return Err(row.not_draft()?);
    }
    Ok(row)
}

/// Saves `row` (the next version of `current`) and records `action` in the audit.
pub fn commit<D: Document>(
    conn: &mut DbConnection,
    caller: &Caller,
    current: &D,
    mut row: D,
    action: &str,
    details: &serde_json::Value,
) -> Result<D> {
    row.bump(current.version());
    let saved = row.save(conn, current.version())?;
    audit::record(conn, caller, D::ENTITY, current.id(), action, details)?;
    Ok(saved)
}

/// Moves a document from one of `from` to `to` (409 `invalid_transition` otherwise),
/// with the reason when one is given. `needs_lines`: the target state is refused to a
/// document without lines (422 `no_lines`).
#[allow(clippy::too_many_arguments)]
pub fn transition<D: Document>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    from: &[D::Status],
    to: D::Status,
    reason: Option<String>,
    needs_lines: bool,
) -> Result<D::Model> {
    let current: D = for_write(conn, caller, id, if_match)?;
    let s = current.status()?;
    if !from.contains(&s) {
        return Err(DomainError::conflict(
            "invalid_transition",
            format!("{} {} is {} and cannot become {}", current.label(), current.number(), s.name(), to.name()),
        ));
    }
    let stored = lines::load(conn, current.doc_kind(), id)?;
    if needs_lines && stored.is_empty() {
        return Err(DomainError::rule(
            "no_lines",
            format!("a {} without lines cannot become {}", current.label(), to.name()),
        ));
    }
    let mut row = current.clone();
    row.set_status(to, reason.clone());
    let details = serde_json::json!({"status": {"from": s.name(), "to": to.name()}, "reason": reason});
    let saved = commit(conn, caller, &current, row, to.name(), &details)?;
    saved.model(Some(&stored))
}

/// Archives a closed document (one of `closed`; 409 `still_open` otherwise): read-only
/// and out of default lists, still in reports. `set` marks the row archived.
pub fn archive<D: Document>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    closed: &[D::Status],
    set: impl FnOnce(&mut D),
) -> Result<D::Model> {
    let current: D = for_write(conn, caller, id, if_match)?;
    let s = current.status()?;
    if !closed.contains(&s) {
        return Err(DomainError::conflict(
            "still_open",
            format!("{} {} is {}: close it first", current.label(), current.number(), s.name()),
        ));
    }
    let mut row = current.clone();
    set(&mut row);
    let saved = commit(conn, caller, &current, row, "archive", &serde_json::json!({"archived": true}))?;
    let stored = lines::load(conn, saved.doc_kind(), id)?;
    saved.model(Some(&stored))
}

/// Deletes a document with its lines, recording what it was (its journal stays in the
/// audit trail with the rest of its history).
pub fn remove<D: Document>(conn: &mut DbConnection, caller: &Caller, current: &D, lines: &[LineRow]) -> Result<()> {
    let before = current.model(Some(lines))?;
    let kind = current.doc_kind().as_str();
    diesel::delete(
        document_lines::table.filter(document_lines::doc_kind.eq(kind)).filter(document_lines::doc_id.eq(current.id())),
    )
    .execute(conn)?;
    D::delete_row(conn, current.id())?;
    audit::record(conn, caller, D::ENTITY, current.id(), "delete", &to_json(&before))?;
    Ok(())
}

/// Re-prices a draft after its header or lines changed, saves it and records the change.
pub fn save_repriced<D: Priced>(
    conn: &mut DbConnection,
    caller: &Caller,
    current: &D,
    mut row: D,
    edited: EditedLines,
    stored: Vec<LineRow>,
    base: Currency,
) -> Result<D::Model> {
    let EditedLines { inputs, own, .. } = edited;
    let before = current.audit_view(&stored)?;
    let ph = row.pricing_header()?;
    let (line_rows, pricing) =
        crate::docs::reprice(conn, caller, row.doc_kind(), row.id(), &ph, stored, inputs, own, base)?;
    row.set_pricing(&pricing);
    row.bump(current.version());
    let saved = row.save(conn, current.version())?;
    let after = saved.audit_view(&line_rows)?;
    audit::record(conn, caller, D::ENTITY, row.id(), "update", &audit::diff(&to_json(&before), &to_json(&after)))?;
    saved.model(Some(&line_rows))
}

/// `PATCH /{documents}/{id}`: a draft's header changed by a merge-patch, its lines
/// re-priced; past the draft stage what [`Priced::update_after_draft`] allows.
pub fn update<D: Priced>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    p: MergePatch,
    base: Currency,
) -> Result<D::Model> {
    crate::docs::no_lines_in_patch(&p)?;
    let current: D = for_write(conn, caller, id, if_match)?;
    if !current.is_draft()? {
        return D::update_after_draft(conn, caller, current, &p);
    }
    let next = patched(&current.header()?, &p)?;
    let h = D::resolve(conn, caller, next, Some(&current))?;
    let mut row = current.clone();
    row.apply(&h);
    let stored = lines::load(conn, current.doc_kind(), current.id())?;
    let (inputs, own) = own_inputs(&stored)?;
    save_repriced(conn, caller, &current, row, EditedLines { inputs, own, touched: None }, stored, base)
}

/// `POST|PATCH|DELETE /{documents}/{id}/lines[/{line_id}]`: a line added, changed or
/// removed on a draft, and the document re-priced.
pub fn change_line<D: Priced>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    if_match: Option<i64>,
    change: LineChange,
    base: Currency,
) -> Result<D::Model> {
    let current: D = editable(conn, caller, id, if_match)?;
    let stored = lines::load(conn, current.doc_kind(), id)?;
    let edited = edit_lines(caller, &stored, change)?;
    current.check_line_edit(&edited)?;
    let row = current.clone();
    save_repriced(conn, caller, &current, row, edited, stored, base)
}

/// What a line edit does.
pub enum LineChange {
    Add(LineInput),
    /// Lines of a standard sales code: their prices come from the code (maintained
    /// under the pricing permission), so they need no override of the caller's.
    AddStandard(Vec<LineInput>),
    Patch(i64, MergePatch),
    Remove(i64),
}

/// A document's own lines after an edit: `inputs[i]` with stored id `own[i]` (None
/// for a new line), and the line the edit touched (new, before) for override checks.
pub struct EditedLines {
    pub inputs: Vec<LineInput>,
    pub own: Vec<Option<i64>>,
    pub touched: Option<(LineInput, Option<LineInput>)>,
}

/// The lines the document's user wrote (not those a pricing rule added), with their ids.
pub fn own_inputs(stored: &[LineRow]) -> Result<(Vec<LineInput>, Vec<Option<i64>>)> {
    let own: Vec<&LineRow> = stored.iter().filter(|r| r.free_of_rule_id.is_none()).collect();
    Ok((own.iter().map(|r| r.input()).collect::<Result<_>>()?, own.iter().map(|r| Some(r.id)).collect()))
}

/// Applies a line change and checks the hand-set price it may introduce.
pub fn edit_lines(caller: &Caller, stored: &[LineRow], change: LineChange) -> Result<EditedLines> {
    let edited = apply_line_change(stored, change)?;
    if let Some((new, old)) = &edited.touched {
        lines::check_overrides(caller, &[(0, new, old.as_ref())])?;
    }
    Ok(edited)
}

const MAX_LINES: usize = 1000;

fn apply_line_change(stored: &[LineRow], change: LineChange) -> Result<EditedLines> {
    let (mut inputs, mut own) = own_inputs(stored)?;
    let too_many = || DomainError::field("lines", "too_many", format!("a document has at most {MAX_LINES} lines"));
    let mut touched = None;
    match change {
        LineChange::Add(l) => {
            if inputs.len() >= MAX_LINES {
                return Err(too_many());
            }
            touched = Some((l.clone(), None));
            inputs.push(l);
            own.push(None);
        }
        LineChange::AddStandard(ls) => {
            if inputs.len() + ls.len() > MAX_LINES {
                return Err(too_many());
            }
            for l in ls {
                inputs.push(l);
                own.push(None);
            }
        }
        LineChange::Patch(line_id, p) => {
            let n = own.iter().position(|o| *o == Some(line_id)).ok_or_else(|| not_own_line(stored, line_id))?;
            let next = patched(&inputs[n], &p)?;
            touched = Some((next.clone(), Some(inputs[n].clone())));
            inputs[n] = next;
        }
        LineChange::Remove(line_id) => {
            let n = own.iter().position(|o| *o == Some(line_id)).ok_or_else(|| not_own_line(stored, line_id))?;
            inputs.remove(n);
            own.remove(n);
        }
    }
    Ok(EditedLines { inputs, own, touched })
}

fn not_own_line(stored: &[LineRow], line_id: i64) -> DomainError {
    if stored.iter().any(|r| r.id == line_id) {
        DomainError::conflict("generated_line", format!("line {line_id} was added by a pricing rule and follows it"))
    } else {
        DomainError::not_found("line", line_id)
    }
}
