//! Attachments on any record: items, customers, quotations, sales orders, blanket
//! orders, deliveries, invoices and the company (its logo). One mechanism: a multipart
//! upload with a size limit and a sniffed content type, the bytes stored under the
//! server's own directory by sha256 (never a path from the client), streamed back.
//! Who may see or change a record's attachments is decided by the record itself: its
//! read and write rights and the caller's scope (an agent: 404 for another agent's
//! customer and its documents), checked in [`Owner::check`] for every route.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use futures_util::StreamExt;
use ordo_core::time_util::now;
use ordo_core::util::{check_version, to_json, Removal};
use ordo_core::{Caller, DomainError, FieldError, Page, Permission, Result as DResult};
use ordo_db::audit;
use ordo_db::schema::attachments;
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use time::{OffsetDateTime, PrimitiveDateTime};
use validator::Validate;

use crate::common::{history_page, HistoryEntry, PageQuery};
use crate::extract::{json_response, remember_body, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;
use crate::AppState;

const AUDIT: &str = "attachment";
/// The largest logo (it is inlined into every HTML document).
const MAX_LOGO_BYTES: i64 = 512 * 1024;

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Photo,
    Brochure,
    Specification,
    Certificate,
    /// The company's logo (on `/company/attachments` only; PNG, JPEG or GIF, at most
    /// 512 KiB): the newest one is printed on every document.
    Logo,
    Other,
}

impl AttachmentKind {
    fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
    fn as_str(&self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }
}

/// The kind of record an attachment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Item,
    Customer,
    Quotation,
    SalesOrder,
    BlanketOrder,
    Delivery,
    /// An invoice or a credit note.
    Invoice,
    /// The company record (`/company/attachments`, owner id 1).
    Company,
    /// A service ticket (photos of the damage, the customer's letter).
    Ticket,
}

fn doc<D: ordo_sales_docs::core::Document>(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i64,
    write: bool,
) -> DResult<()> {
    caller.require(if write { D::WRITE } else { D::READ })?;
    ordo_sales_docs::core::find::<D>(conn, caller, id).map(|_| ())
}

impl Owner {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Item => "item",
            Self::Customer => "customer",
            Self::Quotation => "quotation",
            Self::SalesOrder => "sales_order",
            Self::BlanketOrder => "blanket_order",
            Self::Delivery => "delivery",
            Self::Invoice => "invoice",
            Self::Company => "company",
            Self::Ticket => "ticket",
        }
    }
    fn parse(s: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(s.into())).unwrap_or(Self::Item)
    }

    /// The one check every attachment route makes: the caller may read (or change) the
    /// record, and it is in their scope (404 otherwise, as for the record itself).
    pub fn check(self, conn: &mut DbConnection, caller: &Caller, id: i64, write: bool) -> DResult<()> {
        let need = |read: Permission, change: Permission| caller.require(if write { change } else { read });
        match self {
            Self::Item => {
                need(Permission::ItemsRead, Permission::ItemsWrite)?;
                ordo_catalog::repo::find_item(conn, id).map(|_| ())
            }
            Self::Customer => {
                need(Permission::CustomersRead, Permission::CustomersWrite)?;
                ordo_crm::scope::customer(conn, caller.scope(), id).map(|_| ())
            }
            Self::Quotation => doc::<ordo_sales_docs::quotations::QuotationRow>(conn, caller, id, write),
            Self::SalesOrder => doc::<ordo_sales_docs::orders::OrderRow>(conn, caller, id, write),
            Self::BlanketOrder => doc::<ordo_sales_docs::blanket::BlanketRow>(conn, caller, id, write),
            Self::Invoice => doc::<ordo_billing::invoices::InvoiceRow>(conn, caller, id, write),
            Self::Delivery => {
                need(Permission::StockRead, Permission::StockWrite)?;
                ordo_fulfillment::deliveries::find(conn, caller, id).map(|_| ())
            }
            // Everyone signed in reads the company (it is on every document).
            Self::Company if id == 1 => {
                if write {
                    caller.require(Permission::SalesSetupWrite)
                } else {
                    Ok(())
                }
            }
            Self::Company => Err(DomainError::not_found("company", id)),
            Self::Ticket => {
                need(Permission::TicketsRead, Permission::TicketsOpen)?;
                ordo_service::tickets::find(conn, caller, id).map(|_| ())
            }
        }
    }
}

/// A file attached to a record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub owner_type: Owner,
    pub owner_id: i64,
    pub kind: AttachmentKind,
    /// The uploaded file name, for display only.
    pub filename: String,
    /// Sniffed from the content, not taken from the upload.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// An item's file that goes along when a quotation for the item is mailed.
    pub send_with_offers: bool,
    pub created_by: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub(crate) struct AttachmentRow {
    id: i64,
    kind: String,
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
    created_by: String,
    version: i64,
    created_at: PrimitiveDateTime,
    owner_type: String,
    owner_id: i64,
    send_with_offers: bool,
}

impl AttachmentRow {
    fn to_model(&self) -> Attachment {
        Attachment {
            id: self.id,
            owner_type: Owner::parse(&self.owner_type),
            owner_id: self.owner_id,
            kind: AttachmentKind::parse(&self.kind).unwrap_or(AttachmentKind::Other),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            send_with_offers: self.send_with_offers,
            created_by: self.created_by.clone(),
            version: self.version,
            created_at: self.created_at.assume_utc(),
        }
    }
}

/// What the upload handler hands over after storing the bytes.
struct StoredFile {
    kind: AttachmentKind,
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
    send_with_offers: bool,
}

/// The content type from the first bytes; never the client's claim.
pub fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'%', b'P', b'D', b'F', b'-', ..] => "application/pdf",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [b'P', b'K', 3, 4, ..] => "application/zip",
        b if std::str::from_utf8(b).is_ok() && !b.contains(&0) => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A display name: no path, no control characters, at most 200 characters.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect();
    if cleaned.trim().is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// `Content-Disposition` for a name in any script (RFC 6266: an ASCII fallback and the
/// UTF-8 name percent-encoded), so `oferta_żółw.pdf` is a valid header.
pub(crate) fn disposition(kind: &str, filename: &str) -> String {
    // The fallback is a quoted-string: printable ASCII, no quote, no backslash.
    let ascii: String = filename
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn find(conn: &mut DbConnection, owner: Owner, owner_id: i64, id: i64) -> DResult<AttachmentRow> {
    attachments::table
        .filter(attachments::id.eq(id))
        .filter(attachments::owner_type.eq(owner.as_str()))
        .filter(attachments::owner_id.eq(owner_id))
        .select(AttachmentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DomainError::not_found("attachment", id))
}

fn create(conn: &mut DbConnection, caller: &Caller, owner: Owner, owner_id: i64, f: StoredFile) -> DResult<Attachment> {
    owner.check(conn, caller, owner_id, true)?;
    let row: AttachmentRow = diesel::insert_into(attachments::table)
        .values((
            attachments::owner_type.eq(owner.as_str()),
            attachments::owner_id.eq(owner_id),
            attachments::kind.eq(f.kind.as_str()),
            attachments::filename.eq(&f.filename),
            attachments::content_type.eq(&f.content_type),
            attachments::size.eq(f.size),
            attachments::sha256.eq(&f.sha256),
            attachments::send_with_offers.eq(f.send_with_offers),
            attachments::created_by.eq(caller.principal.actor_key()),
            attachments::version.eq(1),
            attachments::created_at.eq(now()),
        ))
        .returning(attachments::all_columns)
        .get_result(conn)?;
    let v = row.to_model();
    audit::record(conn, caller, AUDIT, v.id, "create", &to_json(&v))?;
    Ok(v)
}

fn list(conn: &mut DbConnection, caller: &Caller, owner: Owner, owner_id: i64) -> DResult<Vec<Attachment>> {
    owner.check(conn, caller, owner_id, false)?;
    let rows: Vec<AttachmentRow> = attachments::table
        .filter(attachments::owner_type.eq(owner.as_str()))
        .filter(attachments::owner_id.eq(owner_id))
        .select(AttachmentRow::as_select())
        .order(attachments::id.asc())
        .load(conn)?;
    Ok(rows.iter().map(AttachmentRow::to_model).collect())
}

fn get_one(conn: &mut DbConnection, caller: &Caller, owner: Owner, owner_id: i64, id: i64) -> DResult<Attachment> {
    owner.check(conn, caller, owner_id, false)?;
    Ok(find(conn, owner, owner_id, id)?.to_model())
}

/// `PATCH .../attachments/{attachment_id}`
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentPatch {
    pub kind: Option<AttachmentKind>,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub filename: Option<String>,
    /// Items only: mail this file with quotations for the item.
    pub send_with_offers: Option<bool>,
}

/// Rules no single field states: a logo is the company's and an image; only an item's
/// files go along with offers.
fn check_rules(owner: Owner, kind: AttachmentKind, file: (&str, i64), send_with_offers: bool) -> DResult<()> {
    let (content_type, size) = file;
    let mut errors = vec![];
    if kind == AttachmentKind::Logo && owner != Owner::Company {
        errors.push(FieldError::new("kind", "invalid", "a logo belongs to the company (/company/attachments)"));
    }
    if kind == AttachmentKind::Logo && !matches!(content_type, "image/png" | "image/jpeg" | "image/gif") {
        errors.push(FieldError::new("file", "invalid", "a logo is a PNG, JPEG or GIF image"));
    }
    // Every HTML document carries the logo inline: keep it small.
    if kind == AttachmentKind::Logo && size > MAX_LOGO_BYTES {
        errors.push(FieldError::new("file", "too_large", format!("a logo is at most {MAX_LOGO_BYTES} bytes")));
    }
    if send_with_offers && owner != Owner::Item {
        errors.push(FieldError::new("send_with_offers", "invalid", "only an item's files go along with offers"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    (owner, owner_id, id): (Owner, i64, i64),
    if_match: Option<i64>,
    p: AttachmentPatch,
) -> DResult<Attachment> {
    owner.check(conn, caller, owner_id, true)?;
    ordo_db::lock::rows(conn, "attachments", &[id])?;
    let row = find(conn, owner, owner_id, id)?;
    check_version(if_match, row.version)?;
    let before = row.to_model();
    let kind = p.kind.unwrap_or(before.kind);
    let offers = p.send_with_offers.unwrap_or(before.send_with_offers);
    check_rules(owner, kind, (&before.content_type, before.size), offers)?;
    let filename = p.filename.as_deref().map(clean_filename).unwrap_or_else(|| before.filename.clone());
    let row: AttachmentRow = diesel::update(attachments::table.find(id))
        .set((
            attachments::kind.eq(kind.as_str()),
            attachments::filename.eq(&filename),
            attachments::send_with_offers.eq(offers),
            attachments::version.eq(row.version + 1),
        ))
        .returning(attachments::all_columns)
        .get_result(conn)?;
    let after = row.to_model();
    audit::record(conn, caller, AUDIT, id, "update", &audit::diff(&to_json(&before), &to_json(&after)))?;
    Ok(after)
}

/// Of the files of deleted attachments, those no attachment names any more (for the
/// caller to remove after commit: records share bytes by sha256).
fn unshared(conn: &mut DbConnection, shas: Vec<String>) -> DResult<Vec<String>> {
    if shas.is_empty() {
        return Ok(shas);
    }
    let still: Vec<String> =
        attachments::table.filter(attachments::sha256.eq_any(&shas)).select(attachments::sha256).load(conn)?;
    Ok(shas.into_iter().filter(|s| !still.contains(s)).collect())
}

/// Deletes the record; returns the file to remove when no other attachment shares it.
fn remove(conn: &mut DbConnection, caller: &Caller, owner: Owner, owner_id: i64, id: i64) -> DResult<Vec<String>> {
    owner.check(conn, caller, owner_id, true)?;
    let a = find(conn, owner, owner_id, id)?.to_model();
    diesel::delete(attachments::table.find(id)).execute(conn)?;
    audit::record(conn, caller, AUDIT, id, "delete", &to_json(&a))?;
    unshared(conn, vec![a.sha256])
}

/// Removes the attachment records of a record being deleted (an item, a customer);
/// returns the files no other attachment shares.
fn remove_all(conn: &mut DbConnection, owner: Owner, owner_id: i64) -> DResult<Vec<String>> {
    let of_owner = attachments::owner_type.eq(owner.as_str()).and(attachments::owner_id.eq(owner_id));
    let shas: Vec<String> = attachments::table.filter(of_owner).select(attachments::sha256).load(conn)?;
    if !shas.is_empty() {
        diesel::delete(attachments::table.filter(of_owner)).execute(conn)?;
    }
    unshared(conn, shas)
}

/// Deletes a record (an item, a customer) through `delete`; when it is really deleted
/// (not archived) its attachments go in the same transaction and their unshared files
/// after the commit.
pub async fn delete_with_files<T: Send + 'static>(
    auth: Auth,
    owner: Owner,
    id: i64,
    delete: impl FnOnce(&mut DbConnection, &Caller) -> DResult<Removal<T>> + Send + 'static,
) -> Result<Removal<T>, Problem> {
    let dir = auth.db_state().config.attachments_dir.clone();
    let (r, files) = auth
        .write(move |c, caller| {
            let r = delete(c, caller)?;
            let files = if matches!(r, Removal::Deleted) { remove_all(c, owner, id)? } else { vec![] };
            Ok((r, files))
        })
        .await?;
    forget_files(dir, files).await;
    Ok(r)
}

/// Removes stored files no attachment names any more (after the commit that dropped them).
async fn forget_files(dir: PathBuf, shas: Vec<String>) {
    if shas.is_empty() {
        return;
    }
    let _ = web::block(move || {
        for s in shas {
            let _ = std::fs::remove_file(dir.join(s));
        }
    })
    .await;
}

/// The newest logo of the company: its content type and bytes (none when there is
/// none or its file is gone).
pub(crate) fn company_logo(conn: &mut DbConnection, dir: &Path) -> DResult<Option<(String, Vec<u8>)>> {
    let logo: Option<(String, String)> = attachments::table
        .filter(attachments::owner_type.eq(Owner::Company.as_str()))
        .filter(attachments::kind.eq(AttachmentKind::Logo.as_str()))
        .order(attachments::id.desc())
        .select((attachments::content_type, attachments::sha256))
        .first(conn)
        .optional()?;
    Ok(logo.and_then(|(ct, sha)| std::fs::read(dir.join(sha)).ok().map(|b| (ct, b))))
}

/// A file to mail along with a document: name, content type, where its bytes are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MailFile {
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
}

/// The files flagged `send_with_offers` of the given items, once each, oldest first.
pub(crate) fn offer_files(conn: &mut DbConnection, item_ids: &[i64]) -> DResult<Vec<MailFile>> {
    if item_ids.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(String, String, String)> = attachments::table
        .filter(attachments::owner_type.eq(Owner::Item.as_str()))
        .filter(attachments::owner_id.eq_any(item_ids))
        .filter(attachments::send_with_offers.eq(true))
        .order(attachments::id.asc())
        .select((attachments::filename, attachments::content_type, attachments::sha256))
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|(_, _, sha)| seen.insert(sha.clone()))
        .map(|(filename, content_type, sha256)| MailFile { filename, content_type, sha256 })
        .collect())
}

// ---- HTTP --------------------------------------------------------------------------------------

/// The multipart form of an upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the multipart body; the handler reads the fields by name
pub struct AttachmentUpload {
    kind: AttachmentKind,
    /// The file; its content type is sniffed, not trusted.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `true` or `false` (default): items only, mail the file with quotations for the item.
    send_with_offers: Option<bool>,
}

fn too_large(max: usize) -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("attachments are limited to {max} bytes"))
}

/// Stores bytes as `<dir>/<sha256>`, written to a temporary name first, never executable.
fn store(dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(sha);
    if target.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!(".{sha}.{}", uuid::Uuid::new_v4().simple()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o640);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &target)
}

/// Reads the multipart form: every failing field at once, the file within the limit.
async fn read_form(
    mut payload: actix_multipart::Multipart,
    max: usize,
) -> Result<(AttachmentKind, String, Vec<u8>, bool), Problem> {
    let malformed = |e: &dyn std::fmt::Display| {
        Problem::bad_request("malformed_multipart", format!("malformed multipart body: {e}"))
    };
    let (mut kind_text, mut offers_text, mut file) = (None::<String>, None::<String>, None::<(String, Vec<u8>)>);
    let mut errors = vec![];
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| malformed(&e))?;
        let name = field.name().unwrap_or("").to_string();
        let filename = field.content_disposition().and_then(|d| d.get_filename()).map(clean_filename);
        let limit = if name == "file" { max } else { 1024 };
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| malformed(&e))?;
            if buf.len() + chunk.len() > limit {
                return Err(if name == "file" {
                    too_large(max)
                } else {
                    Problem::bad_request("malformed_multipart", "form field too long")
                });
            }
            buf.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&buf).trim().to_string();
        match name.as_str() {
            "kind" => kind_text = Some(text()),
            "send_with_offers" => offers_text = Some(text()),
            "file" => file = Some((filename.unwrap_or_else(|| "file".into()), buf)),
            other => errors.push(FieldError::new(
                other,
                "unknown_field",
                "expected only `kind`, `file` and `send_with_offers`",
            )),
        }
    }
    let kind = match kind_text.as_deref().map(AttachmentKind::parse) {
        Some(Some(k)) => Some(k),
        Some(None) => {
            errors.push(FieldError::new(
                "kind",
                "invalid",
                "one of photo, brochure, specification, certificate, logo, other",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("kind", "required", "required"));
            None
        }
    };
    let offers = match offers_text.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(FieldError::new("send_with_offers", "invalid", "`true` or `false`"));
            false
        }
    };
    if file.is_none() {
        errors.push(FieldError::new("file", "required", "required"));
    }
    match (kind, file, errors.is_empty()) {
        (Some(kind), Some((filename, bytes)), true) => Ok((kind, filename, bytes, offers)),
        _ => Err(Problem::validation(errors)),
    }
}

async fn upload(
    auth: Auth,
    req: HttpRequest,
    (owner, owner_id): (Owner, i64),
    payload: actix_multipart::Multipart,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    // Rights and scope before reading a byte of the file.
    auth.read(move |c, caller| owner.check(c, caller, owner_id, true)).await?;
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as multipart/form-data with fields `kind` and `file`",
        ));
    }
    let (kind, filename, bytes, send_with_offers) = read_form(payload, state.config.attachment_max_bytes).await?;
    let content_type = sniff(&bytes).to_string();
    check_rules(owner, kind, (&content_type, bytes.len() as i64), send_with_offers)?;
    let sha = format!("{:x}", Sha256::digest(&bytes));
    remember_body(&req, format!("{}:{sha}:{send_with_offers}", kind.as_str()).as_bytes());
    let dir = state.config.attachments_dir.clone();
    let (sha2, size) = (sha.clone(), bytes.len() as i64);
    web::block(move || store(&dir, &sha2, &bytes)).await?.map_err(|e| {
        tracing::error!(cause = %e, "cannot store attachment");
        Problem::internal()
    })?;
    let stored = StoredFile { kind, filename, content_type, size, sha256: sha, send_with_offers };
    // The new file lives under the collection it was posted to.
    let here = req.path().trim_end_matches('/').to_string();
    auth.post(
        StatusCode::CREATED,
        move |c, caller| create(c, caller, owner, owner_id, stored),
        move |v| ReplyMeta { location: Some(format!("{here}/{}", v.id)), version: Some(v.version) },
    )
    .await
}

async fn download(
    auth: Auth,
    (owner, owner_id, id): (Owner, i64, i64),
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let a = auth.read(move |c, caller| get_one(c, caller, owner, owner_id, id)).await?;
    let file = state.config.attachments_dir.join(&a.sha256);
    let bytes = web::block(move || std::fs::read(file)).await?.map_err(|e| {
        tracing::error!(cause = %e, "attachment file missing");
        Problem::internal()
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, a.content_type.clone()))
        .insert_header((header::CONTENT_DISPOSITION, disposition("attachment", &a.filename)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::ETAG, format!("\"{}\"", a.sha256)))
        .body(bytes))
}

async fn delete_one(
    auth: Auth,
    (owner, owner_id, id): (Owner, i64, i64),
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let files = auth.write(move |c, caller| remove(c, caller, owner, owner_id, id)).await?;
    forget_files(state.config.attachments_dir.clone(), files).await;
    Ok(HttpResponse::NoContent().finish())
}

async fn patch_one(
    auth: Auth,
    key: (Owner, i64, i64),
    if_match: IfMatch,
    p: AttachmentPatch,
) -> Result<HttpResponse, Problem> {
    let v = auth.write(move |c, caller| update(c, caller, key, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

async fn history(auth: Auth, (owner, owner_id, id): (Owner, i64, i64), q: PageQuery) -> Result<HttpResponse, Problem> {
    let p = q.page()?;
    auth.list(p, move |c, caller, p| {
        get_one(c, caller, owner, owner_id, id)?;
        audit::history(c, AUDIT, id, p).map(history_page)
    })
    .await
}

const DOWNLOAD_CONTENT: &str = "The file's bytes, with the content type sniffed at upload";

/// The record's id and the attachment's from the path (`/company/attachments` has no
/// record id: the company is record 1); 400 `invalid_path` for one that is not a number.
fn ids(req: &HttpRequest) -> Result<(i64, i64), Problem> {
    let get = |name: &str, default: i64| match req.match_info().get(name) {
        None => Ok(default),
        Some(v) => v.parse::<i64>().map_err(|_| {
            Problem::bad_request("invalid_path", format!("invalid path parameter: {name} is not a number"))
        }),
    };
    Ok((get("id", 1)?, get("attachment_id", 0)?))
}

/// The six attachment routes of a kind of record at `$path` (`/{collection}/{id}/attachments`).
macro_rules! attachment_routes {
    ($module:ident, $owner:expr, $tag:literal, $noun:literal, [$path:literal, $one:literal, $hist_path:literal],
        [$($idp:tt)*],
        [$up:literal, $list:literal, $get:literal, $patch:literal, $del:literal, $hist:literal]) => {
        pub mod $module {
            use super::*;

            #[utoipa::path(tag = $tag, operation_id = $up, summary = concat!("Attach a file to ", $noun),
                description = "Multipart: `kind`, `file` and (items only) `send_with_offers`. The content type is sniffed from the bytes; the file name is kept for display only. 413 above the configured size; a logo is the company's and a PNG, JPEG or GIF image of at most 512 KiB (422). The record's write right and scope apply (404 for a record the caller cannot see).",
                params($($idp)*),
                request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
                responses((status = 201, description = "Stored", body = Attachment, headers(("Location" = String)))))]
            #[post($path)]
            pub async fn upload(auth: Auth, req: HttpRequest, payload: actix_multipart::Multipart,
                state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
                let (id, _) = ids(&req)?;
                super::upload(auth, req, ($owner, id), payload, state).await
            }

            #[utoipa::path(tag = $tag, operation_id = $list, summary = concat!("List the files of ", $noun),
                params($($idp)*),
                responses((status = 200, description = "Attachments, oldest first (one page)", body = Page<Attachment>)))]
            #[get($path)]
            pub async fn list(auth: Auth, req: HttpRequest) -> Result<HttpResponse, Problem> {
                let (id, _) = ids(&req)?;
                auth.list_one(move |c, caller| super::list(c, caller, $owner, id)).await
            }

            #[utoipa::path(tag = $tag, operation_id = $get, summary = concat!("Download a file of ", $noun),
                params($($idp)* ("attachment_id" = i64, Path, description = "Attachment id")),
                responses((status = 200, description = DOWNLOAD_CONTENT, content(
                    (Vec<u8> = "application/octet-stream"), (Vec<u8> = "application/pdf"), (Vec<u8> = "image/png"),
                    (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"),
                    (Vec<u8> = "application/zip"), (Vec<u8> = "text/plain")))))]
            #[get($one)]
            pub async fn download(auth: Auth, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
                let (id, aid) = ids(&req)?;
                super::download(auth, ($owner, id, aid), state).await
            }

            #[utoipa::path(tag = $tag, operation_id = $patch, summary = concat!("Change a file's details on ", $noun),
                description = "Kind, display name and (items only) `send_with_offers`; the bytes never change (upload a new file). `If-Match` guards against lost updates.",
                params($($idp)* ("attachment_id" = i64, Path, description = "Attachment id")),
                request_body = AttachmentPatch,
                responses((status = 200, description = "Changed", body = Attachment, headers(("ETag" = String)))))]
            #[patch($one)]
            pub async fn change(auth: Auth, req: HttpRequest, if_match: IfMatch,
                body: ValidJson<AttachmentPatch>) -> Result<HttpResponse, Problem> {
                let (id, aid) = ids(&req)?;
                super::patch_one(auth, ($owner, id, aid), if_match, body.0).await
            }

            #[utoipa::path(tag = $tag, operation_id = $del, summary = concat!("Delete a file of ", $noun),
                description = "The stored bytes go when no other attachment shares them.",
                params($($idp)* ("attachment_id" = i64, Path, description = "Attachment id")),
                responses((status = 204, description = "Deleted")))]
            #[delete($one)]
            pub async fn remove(auth: Auth, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
                let (id, aid) = ids(&req)?;
                super::delete_one(auth, ($owner, id, aid), state).await
            }

            #[utoipa::path(tag = $tag, operation_id = $hist, summary = concat!("History of a file of ", $noun),
                params($($idp)* ("attachment_id" = i64, Path, description = "Attachment id"), PageQuery),
                responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>)))]
            #[get($hist_path)]
            pub async fn history(auth: Auth, req: HttpRequest, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
                let (id, aid) = ids(&req)?;
                super::history(auth, ($owner, id, aid), q.0).await
            }

            pub fn routes(cfg: &mut crate::routing::Routes) {
                cfg.service(upload).service(list).service(download).service(change).service(remove).service(history);
            }
        }
    };
}

attachment_routes!(
    item,
    Owner::Item,
    "items",
    "an item",
    [
        "/items/{id}/attachments",
        "/items/{id}/attachments/{attachment_id}",
        "/items/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadItemAttachment",
        "listItemAttachments",
        "downloadItemAttachment",
        "updateItemAttachment",
        "deleteItemAttachment",
        "getItemAttachmentHistory"
    ]
);
attachment_routes!(
    customer,
    Owner::Customer,
    "customers",
    "a customer",
    [
        "/customers/{id}/attachments",
        "/customers/{id}/attachments/{attachment_id}",
        "/customers/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadCustomerAttachment",
        "listCustomerAttachments",
        "downloadCustomerAttachment",
        "updateCustomerAttachment",
        "deleteCustomerAttachment",
        "getCustomerAttachmentHistory"
    ]
);
attachment_routes!(
    quotation,
    Owner::Quotation,
    "quotations",
    "a quotation",
    [
        "/quotations/{id}/attachments",
        "/quotations/{id}/attachments/{attachment_id}",
        "/quotations/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadQuotationAttachment",
        "listQuotationAttachments",
        "downloadQuotationAttachment",
        "updateQuotationAttachment",
        "deleteQuotationAttachment",
        "getQuotationAttachmentHistory"
    ]
);
attachment_routes!(
    sales_order,
    Owner::SalesOrder,
    "sales-orders",
    "a sales order",
    [
        "/sales-orders/{id}/attachments",
        "/sales-orders/{id}/attachments/{attachment_id}",
        "/sales-orders/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadSalesOrderAttachment",
        "listSalesOrderAttachments",
        "downloadSalesOrderAttachment",
        "updateSalesOrderAttachment",
        "deleteSalesOrderAttachment",
        "getSalesOrderAttachmentHistory"
    ]
);
attachment_routes!(
    blanket_order,
    Owner::BlanketOrder,
    "blanket-orders",
    "a blanket order",
    [
        "/blanket-orders/{id}/attachments",
        "/blanket-orders/{id}/attachments/{attachment_id}",
        "/blanket-orders/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadBlanketOrderAttachment",
        "listBlanketOrderAttachments",
        "downloadBlanketOrderAttachment",
        "updateBlanketOrderAttachment",
        "deleteBlanketOrderAttachment",
        "getBlanketOrderAttachmentHistory"
    ]
);
attachment_routes!(
    delivery,
    Owner::Delivery,
    "deliveries",
    "a delivery",
    [
        "/deliveries/{id}/attachments",
        "/deliveries/{id}/attachments/{attachment_id}",
        "/deliveries/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadDeliveryAttachment",
        "listDeliveryAttachments",
        "downloadDeliveryAttachment",
        "updateDeliveryAttachment",
        "deleteDeliveryAttachment",
        "getDeliveryAttachmentHistory"
    ]
);
attachment_routes!(
    invoice,
    Owner::Invoice,
    "invoices",
    "an invoice or credit note",
    [
        "/invoices/{id}/attachments",
        "/invoices/{id}/attachments/{attachment_id}",
        "/invoices/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadInvoiceAttachment",
        "listInvoiceAttachments",
        "downloadInvoiceAttachment",
        "updateInvoiceAttachment",
        "deleteInvoiceAttachment",
        "getInvoiceAttachmentHistory"
    ]
);

attachment_routes!(
    company,
    Owner::Company,
    "documents",
    "the company",
    ["/company/attachments", "/company/attachments/{attachment_id}", "/company/attachments/{attachment_id}/history"],
    [],
    [
        "uploadCompanyAttachment",
        "listCompanyAttachments",
        "downloadCompanyAttachment",
        "updateCompanyAttachment",
        "deleteCompanyAttachment",
        "getCompanyAttachmentHistory"
    ]
);

attachment_routes!(
    ticket,
    Owner::Ticket,
    "service",
    "a service ticket",
    [
        "/tickets/{id}/attachments",
        "/tickets/{id}/attachments/{attachment_id}",
        "/tickets/{id}/attachments/{attachment_id}/history"
    ],
    [("id" = i64, Path, description = "Id of the record"),],
    [
        "uploadTicketAttachment",
        "listTicketAttachments",
        "downloadTicketAttachment",
        "updateTicketAttachment",
        "deleteTicketAttachment",
        "getTicketAttachmentHistory"
    ]
);

pub fn routes(cfg: &mut crate::routing::Routes) {
    ticket::routes(cfg);
    item::routes(cfg);
    customer::routes(cfg);
    quotation::routes(cfg);
    sales_order::routes(cfg);
    blanket_order::routes(cfg);
    delivery::routes(cfg);
    invoice::routes(cfg);
    company::routes(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: DResult<()>) -> Vec<String> {
        match r {
            Err(DomainError::Validation(e)) => e.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rules_no_single_field_states() {
        assert!(check_rules(Owner::Company, AttachmentKind::Logo, ("image/png", 1000), false).is_ok());
        assert_eq!(
            fields(check_rules(Owner::Company, AttachmentKind::Logo, ("image/png", MAX_LOGO_BYTES + 1), false)),
            ["file"]
        );
        assert_eq!(
            fields(check_rules(Owner::Customer, AttachmentKind::Logo, ("text/plain", 10), true)),
            ["kind", "file", "send_with_offers"]
        );
        assert!(check_rules(Owner::Item, AttachmentKind::Brochure, ("application/pdf", 10), true).is_ok());
    }

    #[test]
    fn download_names_in_any_script() {
        assert_eq!(
            disposition("attachment", "umowa żółta \"x\".pdf"),
            "attachment; filename=\"umowa ___ta _x_.pdf\"; filename*=UTF-8''umowa%20%C5%BC%C3%B3%C5%82ta%20%22x%22.pdf"
        );
    }
}
