//! Statements the database prepares once per connection.
//!
//! diesel keeps a prepared statement per connection only for queries it can prove
//! fixed: every UPDATE, every INSERT with a defaulted column or more than one row, and
//! every query with a SQL fragment in it is sent unnamed, so PostgreSQL parses and
//! plans it on each call (a profile of the order path found all but two of its
//! statements so). [`Prepared`] marks a query whose SQL text depends only on its shape
//! — which columns, how many rows — never on its values: diesel then keeps it in the
//! connection's cache under that text, and a use case that runs again finds it
//! planned. Only shapes that come in a few variants belong here; the cache has no end.
//!
//! Load it (`get_result`, `get_results`, `load`): `execute` hands diesel a reference,
//! whose cache check walks the inner query and finds it unmarked again, so a write
//! without rows of its own returns a `1` per row ([`one`]) and counts them.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::QueryResult;

/// A query prepared once per connection and cached under its SQL text (see the module).
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(pub Q);

impl<Q> QueryId for Prepared<Q> {
    // No type-level id: the cache key is the SQL text (with the bind types).
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Prepared<Q> {}

/// Batches of at most this many rows are prepared on PostgreSQL: a document's lines or
/// a transaction's audit entries, in a handful of shapes per table; bulk imports are
/// not. (SQLite inserts rows with defaulted columns one statement each, cached anyway.)
pub const PREPARED_ROWS: usize = 10;

/// `1` as a select (or `RETURNING`) expression, for counting the rows a prepared
/// write touched.
pub fn one() -> diesel::expression::SqlLiteral<diesel::sql_types::Integer> {
    diesel::dsl::sql("1")
}

/// A row of a hand-written prepared write's `RETURNING 1 AS one`: [`one`] for
/// `sql_query`, which reads rows by name.
#[derive(diesel::QueryableByName)]
pub struct One {
    #[diesel(sql_type = diesel::sql_types::Integer, column_name = one)]
    _one: i32,
}

/// A fixed SQL fragment as a select expression that, unlike diesel's `sql()`, leaves
/// the query it is part of preparable.
#[derive(Debug, Clone, Copy)]
pub struct FixedSql(pub &'static str);

impl QueryId for FixedSql {
    // Two fragments differ in their text, which a type-level id could not tell apart.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::Expression for FixedSql {
    type SqlType = BigInt;
}

impl<DB: Backend> QueryFragment<DB> for FixedSql {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        pass.push_sql(self.0);
        Ok(())
    }
}

impl<QS> diesel::SelectableExpression<QS> for FixedSql {}
impl<QS> diesel::AppearsOnTable<QS> for FixedSql {}
impl<GB> diesel::expression::ValidGrouping<GB> for FixedSql {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
