//! Attachment metadata (photo, brochure, specification, certificate). The bytes live
//! in a directory the server owns, in a file named by their sha256; the API layer
//! streams them and never takes a path from the client.

use diesel::prelude::*;
use ordo_core::time_util::now;
use ordo_core::util::to_json;
use ordo_core::{Caller, DomainError, Permission, Result};
use ordo_db::audit;
use ordo_db::schema::attachments;
use ordo_db::DbConnection;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

pub const ATTACHMENT: &str = "attachment";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Photo,
    Brochure,
    Specification,
    Certificate,
    Other,
}

impl AttachmentKind {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
    pub fn as_str(&self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub item_id: i64,
    pub kind: AttachmentKind,
    /// The uploaded file name, for display only.
    pub filename: String,
    /// Sniffed from the content, not taken from the upload.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub struct AttachmentRow {
    pub id: i64,
    pub item_id: i64,
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: String,
    pub version: i64,
    pub created_at: PrimitiveDateTime,
}

impl AttachmentRow {
    pub fn to_model(&self) -> Attachment {
        Attachment {
            id: self.id,
            item_id: self.item_id,
            kind: AttachmentKind::parse(&self.kind).unwrap_or(AttachmentKind::Other),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            created_by: self.created_by.clone(),
            version: self.version,
            created_at: self.created_at.assume_utc(),
        }
    }
}

/// What the upload handler hands over after storing the bytes.
pub struct StoredFile {
    pub kind: AttachmentKind,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
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
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect();
    if cleaned.trim().is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

pub fn create(conn: &mut DbConnection, caller: &Caller, item_id: i64, f: StoredFile) -> Result<Attachment> {
    caller.require(Permission::ItemsWrite)?;
    crate::repo::find_item(conn, item_id)?;
    let row: AttachmentRow = diesel::insert_into(attachments::table)
        .values((
            attachments::item_id.eq(item_id),
            attachments::kind.eq(f.kind.as_str()),
            attachments::filename.eq(&f.filename),
            attachments::content_type.eq(&f.content_type),
            attachments::size.eq(f.size),
            attachments::sha256.eq(&f.sha256),
            attachments::created_by.eq(caller.principal.actor_key()),
            attachments::version.eq(1),
            attachments::created_at.eq(now()),
        ))
        .returning(attachments::all_columns)
        .get_result(conn)?;
    let v = row.to_model();
    audit::record(conn, caller, ATTACHMENT, v.id, "create", &to_json(&v))?;
    Ok(v)
}

pub fn list(conn: &mut DbConnection, caller: &Caller, item_id: i64) -> Result<Vec<Attachment>> {
    caller.require(Permission::ItemsRead)?;
    crate::repo::find_item(conn, item_id)?;
    let rows: Vec<AttachmentRow> = attachments::table
        .filter(attachments::item_id.eq(item_id))
        .select(AttachmentRow::as_select())
        .order(attachments::id.asc())
        .load(conn)?;
    Ok(rows.iter().map(|r| r.to_model()).collect())
}

pub fn get(conn: &mut DbConnection, caller: &Caller, item_id: i64, id: i64) -> Result<Attachment> {
    caller.require(Permission::ItemsRead)?;
    attachments::table
        .filter(attachments::id.eq(id))
        .filter(attachments::item_id.eq(item_id))
        .select(AttachmentRow::as_select())
        .first(conn)
        .optional()?
        .map(|r| r.to_model())
        .ok_or_else(|| DomainError::not_found("attachment", id))
}

/// Deletes the record; returns whether another attachment still uses the same bytes.
pub fn delete(conn: &mut DbConnection, caller: &Caller, item_id: i64, id: i64) -> Result<(Attachment, bool)> {
    caller.require(Permission::ItemsWrite)?;
    let a = get(conn, caller, item_id, id)?;
    diesel::delete(attachments::table.find(id)).execute(conn)?;
    let shared: i64 = attachments::table.filter(attachments::sha256.eq(&a.sha256)).count().get_result(conn)?;
    audit::record(conn, caller, ATTACHMENT, id, "delete", &to_json(&a))?;
    Ok((a, shared > 0))
}

pub fn history(
    conn: &mut DbConnection,
    caller: &Caller,
    item_id: i64,
    id: i64,
    page: &ordo_core::PageRequest,
) -> Result<ordo_core::Page<audit::Entry>> {
    get(conn, caller, item_id, id)?;
    audit::history(conn, ATTACHMENT, id, page)
}
