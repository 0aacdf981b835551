//! Global search (`GET /search`): one query interface over PostgreSQL full-text
//! search (a weighted tsvector with a GIN index) and SQLite FTS5 (bm25), both over
//! the `search_entries` table that triggers keep current (migration 000018).
//!
//! Matching is the same on both: words are split at anything that is not a letter
//! or a digit, case is ignored, every word must match, and the last word of the
//! query may be a prefix of a word, so "acme sp" finds "ACME Sp. z o.o." while
//! the user types. Ranking weighs the title above the other text and that above
//! the customer name of rows that hang off a customer; the two engines score
//! differently, so the order of equally good hits may differ between backends.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use ordo_core::{Caller, Cursor, DomainError, FieldError, Page, Permission, Result, Scope};
use serde::{Deserialize, Serialize};

use crate::DbConnection;

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchKind {
    Customer,
    Contact,
    Item,
    Lead,
    Opportunity,
    Quotation,
    SalesOrder,
    BlanketOrder,
    Delivery,
    Return,
}

impl SearchKind {
    pub const ALL: [SearchKind; 10] = [
        SearchKind::Customer,
        SearchKind::Contact,
        SearchKind::Item,
        SearchKind::Lead,
        SearchKind::Opportunity,
        SearchKind::Quotation,
        SearchKind::SalesOrder,
        SearchKind::BlanketOrder,
        SearchKind::Delivery,
        SearchKind::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchKind::Customer => "customer",
            SearchKind::Contact => "contact",
            SearchKind::Item => "item",
            SearchKind::Lead => "lead",
            SearchKind::Opportunity => "opportunity",
            SearchKind::Quotation => "quotation",
            SearchKind::SalesOrder => "sales_order",
            SearchKind::BlanketOrder => "blanket_order",
            SearchKind::Delivery => "delivery",
            SearchKind::Return => "return",
        }
    }

    fn parse(s: &str) -> Option<SearchKind> {
        SearchKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The permission that reads this kind's own endpoint: search never shows what
    /// the caller could not open.
    fn permission(self) -> Permission {
        match self {
            SearchKind::Customer | SearchKind::Contact => Permission::CustomersRead,
            SearchKind::Item => Permission::ItemsRead,
            SearchKind::Lead | SearchKind::Opportunity => Permission::PipelineRead,
            SearchKind::Quotation | SearchKind::SalesOrder | SearchKind::BlanketOrder => Permission::SalesDocsRead,
            SearchKind::Delivery | SearchKind::Return => Permission::StockRead,
        }
    }

    fn href(self, id: i64, customer_id: Option<i64>) -> String {
        let path = match self {
            SearchKind::Customer => "customers",
            SearchKind::Contact => {
                return format!("/api/v1/customers/{}/contacts/{id}", customer_id.unwrap_or_default());
            }
            SearchKind::Item => "items",
            SearchKind::Lead => "leads",
            SearchKind::Opportunity => "opportunities",
            SearchKind::Quotation => "quotations",
            SearchKind::SalesOrder => "sales-orders",
            SearchKind::BlanketOrder => "blanket-orders",
            SearchKind::Delivery => "deliveries",
            SearchKind::Return => "returns",
        };
        format!("/api/v1/{path}/{id}")
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub kind: SearchKind,
    pub id: i64,
    /// The name or document number.
    #[schema(example = "SO-2026-000042")]
    pub title: String,
    /// The customer's name for contacts, opportunities and documents; the number
    /// or SKU for customers, leads and items.
    pub subtitle: Option<String>,
    /// The customer the hit belongs to, where it belongs to one.
    pub customer_id: Option<i64>,
    /// Where the API serves it.
    #[schema(example = "/api/v1/sales-orders/42")]
    pub href: String,
}

/// A validated search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    words: Vec<String>,
    kinds: Vec<SearchKind>,
    limit: i64,
    offset: i64,
}

const MAX_WORDS: usize = 8;
const MAX_WORD_CHARS: usize = 64;
/// Relevance pages are offsets into a ranked list; deeper than this nobody reads,
/// and every page costs a ranking of all matches.
pub const MAX_DEPTH: i64 = 1000;

impl SearchRequest {
    /// `q` (words), `kinds` (empty: all the caller may read), `limit`, `cursor`.
    pub fn parse(q: &str, kinds: &[SearchKind], limit: Option<i64>, cursor: Option<&str>) -> Result<SearchRequest> {
        let mut errors = Vec::new();
        let words: Vec<String> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.chars().take(MAX_WORD_CHARS).collect::<String>().to_lowercase())
            .collect();
        if q.chars().count() > 200 {
            errors.push(FieldError::new("q", "length", "at most 200 characters"));
        } else if words.is_empty() {
            errors.push(FieldError::new("q", "required", "give at least one word (letters or digits)"));
        } else if words.len() > MAX_WORDS {
            errors.push(FieldError::new("q", "too_many_words", format!("at most {MAX_WORDS} words")));
        }
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            errors.push(FieldError::new("limit", "range", "must be between 1 and 100"));
        }
        let mut kinds = kinds.to_vec();
        kinds.sort_by_key(|k| k.as_str());
        kinds.dedup();
        let mut req = SearchRequest { words, kinds, limit, offset: 0 };
        if let Some(c) = cursor.filter(|c| !c.is_empty()) {
            match Cursor::decode(c) {
                Ok(c) if c.sort == req.label() && (0..MAX_DEPTH).contains(&c.after_id) => req.offset = c.after_id,
                Ok(_) => {
                    errors.push(FieldError::new("cursor", "cursor_mismatch", "this cursor belongs to another search"))
                }
                Err(DomainError::Validation(mut e)) => errors.append(&mut e),
                Err(e) => return Err(e),
            }
        }
        if errors.is_empty() {
            Ok(req)
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// The same search from another offset (a CSV export walking the pages).
    pub fn from(&self, offset: Option<i64>) -> SearchRequest {
        let offset = offset.map_or(self.offset, |o| o.clamp(0, MAX_DEPTH));
        SearchRequest { offset, ..self.clone() }
    }

    /// What a cursor is bound to: the normalised words and kinds.
    fn label(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        format!("search:{}|{}", self.words.join(" "), kinds.join(","))
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    entity_id: i64,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    subtitle: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    customer_id: Option<i64>,
}

/// Ranked hits the caller may see: kinds their roles read, and for a sales agent
/// only rows of their own customers and leads, mirroring `visible_customers`,
/// `visible_leads`, `visible_opportunities` and the documents' `scoped!` rule.
pub fn search(conn: &mut DbConnection, caller: &Caller, req: &SearchRequest) -> Result<Page<SearchHit>> {
    let wanted = if req.kinds.is_empty() { SearchKind::ALL.to_vec() } else { req.kinds.clone() };
    let kinds: Vec<SearchKind> = wanted.into_iter().filter(|k| caller.has(k.permission())).collect();
    if kinds.is_empty() {
        return Err(DomainError::forbidden("your role reads none of the kinds searched"));
    }
    // Kinds and the user id are ours, never request text; the words are bound.
    let kind_list = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect::<Vec<_>>().join(", ");
    let scope = match caller.scope() {
        Scope::All => String::new(),
        Scope::OwnCustomers(me) => format!(
            " AND (e.kind = 'item' OR e.owner_id = {me} \
               OR e.customer_id IN (SELECT id FROM customers WHERE owner_id = {me}) \
               OR e.lead_id IN (SELECT id FROM leads WHERE owner_id = {me}))"
        ),
    };
    let (limit, offset) = (req.limit + 1, req.offset);
    let cols = "e.kind, e.entity_id, e.title, e.subtitle, e.customer_id";
    let rows: Vec<Row> = match conn {
        DbConnection::Pg(c) => {
            let query = req.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
            let sql = format!(
                "SELECT {cols} FROM search_entries e, to_tsquery('simple', $1) query \
                 WHERE e.terms @@ query AND e.kind IN ({kind_list}){scope} \
                 ORDER BY ts_rank_cd(e.terms, query) DESC, e.id LIMIT $2 OFFSET $3"
            );
            diesel::sql_query(sql).bind::<Text, _>(query).bind::<BigInt, _>(limit).bind::<BigInt, _>(offset).load(c)?
        }
        DbConnection::Sqlite(c) => {
            let query = req.words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" AND ");
            let sql = format!(
                "SELECT {cols} FROM search_fts JOIN search_entries e ON e.id = search_fts.rowid \
                 WHERE search_fts MATCH ?1 AND e.kind IN ({kind_list}){scope} \
                 ORDER BY bm25(search_fts, 10.0, 4.0, 1.0), e.id LIMIT ?2 OFFSET ?3"
            );
            diesel::sql_query(sql).bind::<Text, _>(query).bind::<BigInt, _>(limit).bind::<BigInt, _>(offset).load(c)?
        }
    };
    let more = rows.len() as i64 > req.limit && req.offset + req.limit < MAX_DEPTH;
    let data: Vec<SearchHit> = rows
        .into_iter()
        .take(req.limit as usize)
        .filter_map(|r| {
            let kind = SearchKind::parse(&r.kind)?;
            Some(SearchHit {
                kind,
                id: r.entity_id,
                href: kind.href(r.entity_id, r.customer_id),
                title: r.title,
                subtitle: r.subtitle.filter(|s| !s.is_empty()),
                customer_id: r.customer_id,
            })
        })
        .collect();
    let next_cursor =
        more.then(|| Cursor { sort: req.label(), after_id: req.offset + req.limit, after_key: None }.encode());
    Ok(Page { data, next_cursor, total: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_like_the_tokenizers_do() {
        let r = SearchRequest::parse("SO-2026/00 Ромашка  anna@x.pl", &[], None, None).unwrap();
        assert_eq!(r.words, ["so", "2026", "00", "ромашка", "anna", "x", "pl"]);
        assert!(SearchRequest::parse(" -- ", &[], None, None).is_err());
        assert!(SearchRequest::parse("a b c d e f g h i", &[], None, None).is_err());
    }

    #[test]
    fn a_cursor_belongs_to_its_search() {
        let r = SearchRequest::parse("acme", &[SearchKind::Item], Some(5), None).unwrap();
        let c = Cursor { sort: r.label(), after_id: 5, after_key: None }.encode();
        assert_eq!(SearchRequest::parse("ACME", &[SearchKind::Item], Some(5), Some(&c)).unwrap().offset, 5);
        assert!(SearchRequest::parse("acme", &[], Some(5), Some(&c)).is_err());
        assert!(SearchRequest::parse("acm", &[SearchKind::Item], Some(5), Some(&c)).is_err());
    }
}
