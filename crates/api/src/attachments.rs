//! `/items/{id}/attachments`: multipart upload with a size limit and a sniffed
//! content type, stored under the server's own directory by sha256, streamed back.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use ordo_catalog::attachments::{self, Attachment, AttachmentKind, StoredFile};
use ordo_core::{FieldError, Page};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

use crate::common::{history_page, HistoryEntry, PageQuery};
use crate::extract::{remember_body, Auth, ReplyMeta, StrictQuery};
use crate::problem::Problem;
use crate::AppState;

/// The multipart form of an upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the multipart body; the handler reads the fields by name
pub struct AttachmentUpload {
    kind: AttachmentKind,
    /// The file; its content type is sniffed, not trusted.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn too_large(max: usize) -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("attachments are limited to {max} bytes"))
}

/// Stores bytes as `<dir>/<sha256>`, written to a temporary name first, never executable.
fn store(dir: &PathBuf, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
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

/// Upload an attachment (multipart: `kind` and `file`).
#[utoipa::path(
    tag = "items",
    operation_id = "uploadItemAttachment",
    params(("id" = i64, Path, description = "Item id")),
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    responses((status = 201, description = "Stored", body = Attachment, headers(("Location" = String))))
)]
#[post("/items/{id}/attachments")]
pub async fn upload_attachment(
    auth: Auth,
    req: HttpRequest,
    id: web::Path<i64>,
    mut payload: actix_multipart::Multipart,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    auth.caller.require(ordo_core::Permission::ItemsWrite)?;
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as multipart/form-data with fields `kind` and `file`",
        ));
    }
    let max = state.config.attachment_max_bytes;
    let mut kind_text: Option<String> = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut errors = vec![];
    while let Some(field) = payload.next().await {
        let mut field =
            field.map_err(|e| Problem::bad_request("malformed_multipart", format!("malformed multipart body: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        let filename = field.content_disposition().and_then(|d| d.get_filename()).map(attachments::clean_filename);
        let limit = if name == "file" { max } else { 1024 };
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|e| Problem::bad_request("malformed_multipart", format!("malformed multipart body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(if name == "file" {
                    too_large(max)
                } else {
                    Problem::bad_request("malformed_multipart", "form field too long")
                });
            }
            buf.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "kind" => kind_text = Some(String::from_utf8_lossy(&buf).trim().to_string()),
            "file" => file = Some((filename.unwrap_or_else(|| "file".into()), buf)),
            other => errors.push(FieldError::new(other, "unknown_field", "expected only `kind` and `file`")),
        }
    }
    let kind = match kind_text.as_deref().map(AttachmentKind::parse) {
        Some(Some(k)) => Some(k),
        Some(None) => {
            errors.push(FieldError::new(
                "kind",
                "invalid",
                "one of photo, brochure, specification, certificate, other",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("kind", "required", "required"));
            None
        }
    };
    if file.is_none() {
        errors.push(FieldError::new("file", "required", "required"));
    }
    let (Some(kind), Some((filename, bytes)), true) = (kind, file, errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let sha = format!("{:x}", Sha256::digest(&bytes));
    remember_body(&req, format!("{}:{sha}", kind.as_str()).as_bytes());
    let dir = state.config.attachments_dir.clone();
    let (sha2, bytes2) = (sha.clone(), bytes.clone());
    web::block(move || store(&dir, &sha2, &bytes2)).await?.map_err(|e| {
        tracing::error!(cause = %e, "cannot store attachment");
        Problem::internal()
    })?;
    let stored = StoredFile {
        kind,
        filename,
        content_type: attachments::sniff(&bytes).to_string(),
        size: bytes.len() as i64,
        sha256: sha,
    };
    let item_id = id.into_inner();
    auth.post(
        StatusCode::CREATED,
        move |c, caller| attachments::create(c, caller, item_id, stored),
        |v| ReplyMeta {
            location: Some(format!("/api/v1/items/{}/attachments/{}", v.item_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// List an item's attachments.
#[utoipa::path(
    tag = "items",
    operation_id = "listItemAttachments",
    params(("id" = i64, Path, description = "Item id")),
    responses((status = 200, description = "Attachments (one page)", body = Page<Attachment>))
)]
#[get("/items/{id}/attachments")]
pub async fn list_attachments(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.list_one(move |c, caller| attachments::list(c, caller, id)).await
}

/// Download an attachment with its sniffed content type.
#[utoipa::path(
    tag = "items",
    operation_id = "downloadItemAttachment",
    params(("id" = i64, Path, description = "Item id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 200, description = "The file's bytes, with the content type sniffed at upload", content(
        (Vec<u8> = "application/octet-stream"), (Vec<u8> = "application/pdf"), (Vec<u8> = "image/png"),
        (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"), (Vec<u8> = "application/zip"),
        (Vec<u8> = "text/plain")
    )))
)]
#[get("/items/{id}/attachments/{attachment_id}")]
pub async fn download_attachment(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (id, aid) = path.into_inner();
    let a = auth.read(move |c, caller| attachments::get(c, caller, id, aid)).await?;
    let file = state.config.attachments_dir.join(&a.sha256);
    let bytes = web::block(move || std::fs::read(file)).await?.map_err(|e| {
        tracing::error!(cause = %e, "attachment file missing");
        Problem::internal()
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, a.content_type.clone()))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", a.filename)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::ETAG, format!("\"{}\"", a.sha256)))
        .body(bytes))
}

/// Delete an attachment (its file goes when no other attachment shares the bytes).
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItemAttachment",
    params(("id" = i64, Path, description = "Item id"), ("attachment_id" = i64, Path, description = "Attachment id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/items/{id}/attachments/{attachment_id}")]
pub async fn delete_attachment(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (id, aid) = path.into_inner();
    let (a, shared) = auth.write(move |c, caller| attachments::delete(c, caller, id, aid)).await?;
    if !shared {
        let file = state.config.attachments_dir.join(&a.sha256);
        let _ = web::block(move || std::fs::remove_file(file)).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The history of an attachment (upload and deletion records).
#[utoipa::path(
    tag = "items",
    operation_id = "getItemAttachmentHistory",
    params(("id" = i64, Path, description = "Item id"), ("attachment_id" = i64, Path, description = "Attachment id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/items/{id}/attachments/{attachment_id}/history")]
pub async fn attachment_history(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let ((id, aid), p) = (path.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| attachments::history(c, caller, id, aid, p).map(history_page)).await
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload_attachment)
        .service(list_attachments)
        .service(download_attachment)
        .service(delete_attachment)
        .service(attachment_history);
}
