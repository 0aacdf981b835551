//! Keyset pagination: an opaque cursor carries the last key of the previous page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldError};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The decoded cursor: the id after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub after_id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}", self.after_id))
    }
    pub fn decode(s: &str) -> Result<Cursor, DomainError> {
        let bad = || DomainError::field("cursor", "invalid", "not a cursor returned by this API");
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let id = text.strip_prefix("v1:").and_then(|n| n.parse::<i64>().ok()).ok_or_else(bad)?;
        Ok(Cursor { after_id: id })
    }
}

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: i64,
    pub after_id: Option<i64>,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, DomainError> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", "range", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after_id = match cursor.filter(|c| !c.is_empty()).map(Cursor::decode) {
            None => None,
            Some(Ok(c)) => Some(c.after_id),
            Some(Err(DomainError::Validation(mut e))) => {
                errors.append(&mut e);
                None
            }
            Some(Err(e)) => return Err(e),
        };
        if errors.is_empty() {
            Ok(PageRequest { limit, after_id })
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
}

impl<T> Page<T> {
    /// Builds a page from `fetch()` rows ordered by id.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, id_of: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() as i64 > req.limit;
        rows.truncate(req.limit as usize);
        let next_cursor = if more { rows.last().map(|r| Cursor { after_id: id_of(r) }.encode()) } else { None };
        Page { data: rows, next_cursor }
    }
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { data: self.data.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor { after_id: 42 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("nope!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v2:1")).is_err());
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
        let req = PageRequest { limit: 2, after_id: None };
        let p = Page::from_rows(vec![1i64, 2, 3], &req, |x| *x);
        assert_eq!(p.data, vec![1, 2]);
        assert_eq!(Cursor::decode(p.next_cursor.as_deref().unwrap()).unwrap().after_id, 2);
        let p = Page::from_rows(vec![1i64, 2], &req, |x| *x);
        assert!(p.next_cursor.is_none());
    }
}
