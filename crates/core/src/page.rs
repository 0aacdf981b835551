//! Keyset pagination: an opaque cursor carries the last key of the previous page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldError};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// How a list is ordered: `id` or a key the list offers, ascending or descending. Ties
/// are broken by id, so the order is total and keyset pagination never skips a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: &'static str,
    pub descending: bool,
}

impl Sort {
    pub const ID: Sort = Sort { key: "id", descending: false };
    /// As written in `?sort=`: `number`, `-date`.
    pub fn label(&self) -> String {
        if self.descending {
            format!("-{}", self.key)
        } else {
            self.key.to_string()
        }
    }
}

/// The decoded cursor: the sort it belongs to, and the last row's key and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "i")]
    pub after_id: i64,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub after_key: Option<serde_json::Value>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v2:{}", serde_json::to_string(self).unwrap_or_default()))
    }
    pub fn decode(s: &str) -> Result<Cursor, DomainError> {
        let bad = || DomainError::field("cursor", "invalid", "not a cursor returned by this API");
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        if let Some(json) = text.strip_prefix("v2:") {
            return serde_json::from_str(json).map_err(|_| bad());
        }
        // Cursors handed out before sorting existed: ascending by id.
        let id = text.strip_prefix("v1:").and_then(|n| n.parse::<i64>().ok()).ok_or_else(bad)?;
        Ok(Cursor { sort: "id".into(), after_id: id, after_key: None })
    }
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after_id: Option<i64>,
    /// The sort key of the last row of the previous page (sorts other than `id`).
    pub after_key: Option<serde_json::Value>,
    pub sort: Sort,
    /// Whether the answer carries the total count (`include_total=true`).
    pub include_total: bool,
}

impl PageRequest {
    /// Ascending by id.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, DomainError> {
        Self::parse_sorted(limit, cursor, Sort::ID)
    }

    /// With a sort the list offers; a cursor of another sort is refused (it would skip
    /// or repeat rows).
    pub fn parse_sorted(limit: Option<i64>, cursor: Option<&str>, sort: Sort) -> Result<PageRequest, DomainError> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", "range", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let (mut after_id, mut after_key) = (None, None);
        match cursor.filter(|c| !c.is_empty()).map(Cursor::decode) {
            None => {}
            Some(Ok(c)) if c.sort == sort.label() => {
                after_id = Some(c.after_id);
                after_key = c.after_key;
            }
            Some(Ok(c)) => errors.push(FieldError::new(
                "cursor",
                "other_sort",
                format!("the cursor belongs to sort={}; keep the sort while paging", c.sort),
            )),
            Some(Err(DomainError::Validation(mut e))) => errors.append(&mut e),
            Some(Err(e)) => return Err(e),
        }
        if errors.is_empty() {
            Ok(PageRequest { limit, after_id, after_key, sort, include_total: false })
        } else {
            Err(DomainError::Validation(errors))
        }
    }
    /// Rows to fetch: one more than the page, to know whether a next page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a list; pass `next_cursor` back as `cursor` for the next page (null: no more).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
    /// How many rows match the filters across all pages: only with
    /// `include_total=true`, where the list offers it. It costs a count over every
    /// matching row, so ask for it on the first page, not on every page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from `fetch()` rows ordered by id.
    pub fn from_rows(rows: Vec<T>, req: &PageRequest, id_of: impl Fn(&T) -> i64) -> Page<T> {
        Self::from_sorted_rows(rows, req, |r| (id_of(r), serde_json::Value::Null))
    }

    /// Builds a page from `fetch()` rows in the request's sort; `key_of` gives a row's
    /// id and its sort key (ignored for the `id` sort).
    pub fn from_sorted_rows(
        mut rows: Vec<T>,
        req: &PageRequest,
        key_of: impl Fn(&T) -> (i64, serde_json::Value),
    ) -> Page<T> {
        let more = rows.len() as i64 > req.limit;
        rows.truncate(req.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| {
                let (id, key) = key_of(r);
                Cursor { sort: req.sort.label(), after_id: id, after_key: (req.sort.key != "id").then_some(key) }
                    .encode()
            })
        } else {
            None
        };
        Page { data: rows, next_cursor, total: None }
    }
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { data: self.data.into_iter().map(f).collect(), next_cursor: self.next_cursor, total: self.total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor { sort: "-number".into(), after_id: 42, after_key: Some(serde_json::json!("SO-1")) };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("nope!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v2:1")).is_err());
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v1:7")).unwrap().after_id, 7, "old cursors still work");
        let other = PageRequest::parse_sorted(None, Some(&c.encode()), Sort { key: "date", descending: false });
        assert!(other.is_err(), "a cursor of another sort");
    }

    #[test]
    fn limits() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 50);
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(201), None).is_err());
        match PageRequest::parse(Some(0), Some("zz")) {
            Err(DomainError::Validation(e)) => assert_eq!(e.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn page_from_rows() {
        let req = PageRequest { limit: 2, after_id: None, after_key: None, sort: Sort::ID, include_total: false };
        let p = Page::from_rows(vec![1i64, 2, 3], &req, |x| *x);
        assert_eq!(p.data, vec![1, 2]);
        assert_eq!(Cursor::decode(p.next_cursor.as_deref().unwrap()).unwrap().after_id, 2);
        let p = Page::from_rows(vec![1i64, 2], &req, |x| *x);
        assert!(p.next_cursor.is_none());
    }
}
