//! The standard use cases of a configuration resource that is patched in its create
//! shape (merge-patch onto the current state, re-validated as a create): create, list,
//! get, update, delete, history. One macro, so every such resource behaves the same.
//!
//! A row type implements [`Record`]; the resource module supplies `read`/`write`
//! permission checks, a `check` for business rules beyond field validation, and a
//! `filter` that narrows the list query.

use ordo_core::Result;
use time::PrimitiveDateTime;

/// A stored row of a resource that round-trips through its create shape.
pub trait Record: Sized {
    type Create: serde::Serialize + serde::de::DeserializeOwned + validator::Validate + Clone;
    type Model: serde::Serialize;
    fn from_create(id: i64, c: &Self::Create, version: i64, created_at: PrimitiveDateTime) -> Self;
    fn to_create(&self) -> Result<Self::Create>;
    fn to_model(&self) -> Result<Self::Model>;
    fn version(&self) -> i64;
}

/// Generates `create`, `list`, `get`, `update`, `delete`, `history` for `$row` stored
/// in `$table`. Expects in scope: `read(&Caller)`, `write(&Caller)`,
/// `check(conn, caller, &Create, Option<id>)`, a `Filter` type and
/// `filter(query, &Filter) -> query`.
#[macro_export]
macro_rules! crud_service {
    (entity: $entity:expr, name: $name:expr, table: $table:ident, row: $row:ty) => {
        pub const ENTITY: &str = $entity;
        type Model = <$row as $crate::crud::Record>::Model;
        type Create = <$row as $crate::crud::Record>::Create;
        /// The list query `filter` narrows.
        pub type Query<'a> = $table::BoxedQuery<'a, $crate::DbBackend, diesel::dsl::AsSelect<$row, $crate::DbBackend>>;

        pub fn find(conn: &mut $crate::DbConnection, id: i64) -> ordo_core::Result<$row> {
            use diesel::prelude::*;
            $table::table
                .find(id)
                .select(<$row>::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| ordo_core::DomainError::not_found($name, id))
        }

        pub fn create(
            conn: &mut $crate::DbConnection,
            caller: &ordo_core::Caller,
            input: Create,
        ) -> ordo_core::Result<Model> {
            use diesel::prelude::*;
            use $crate::crud::Record;
            write(caller)?;
            check(conn, caller, &input, None)?;
            let row: $row = diesel::insert_into($table::table)
                .values(<$row>::from_create(0, &input, 1, ordo_core::time_util::now()))
                .returning($table::all_columns)
                .get_result(conn)?;
            let v = row.to_model()?;
            $crate::audit::record(conn, caller, ENTITY, row.id, "create", &ordo_core::util::to_json(&v))?;
            Ok(v)
        }

        pub fn list(
            conn: &mut $crate::DbConnection,
            caller: &ordo_core::Caller,
            f: &Filter,
            page: &ordo_core::PageRequest,
        ) -> ordo_core::Result<ordo_core::Page<Model>> {
            use diesel::prelude::*;
            use $crate::crud::Record;
            read(caller)?;
            let q = $table::table.select(<$row>::as_select()).into_boxed();
            let rows: Vec<$row> = $crate::keyset!(filter(q, f), page, $table::id).load(conn)?;
            let rows = ordo_core::Page::from_rows(rows, page, |r| r.id);
            Ok(ordo_core::Page {
                data: rows.data.iter().map(|r| r.to_model()).collect::<ordo_core::Result<_>>()?,
                next_cursor: rows.next_cursor,
                total: rows.total,
            })
        }

        pub fn get(conn: &mut $crate::DbConnection, caller: &ordo_core::Caller, id: i64) -> ordo_core::Result<Model> {
            use $crate::crud::Record;
            read(caller)?;
            find(conn, id)?.to_model()
        }

        pub fn update(
            conn: &mut $crate::DbConnection,
            caller: &ordo_core::Caller,
            id: i64,
            if_match: Option<i64>,
            p: ordo_core::body::MergePatch,
        ) -> ordo_core::Result<Model> {
            use diesel::prelude::*;
            use $crate::crud::Record;
            write(caller)?;
            let current = find(conn, id)?;
            ordo_core::util::check_version(if_match, current.version())?;
            let next = ordo_core::body::patched(&current.to_create()?, &p)?;
            check(conn, caller, &next, Some(id))?;
            let mut row = <$row>::from_create(id, &next, current.version() + 1, current.created_at);
            row.updated_at = ordo_core::time_util::now();
            let saved: $row = $crate::save_versioned!(conn, $table, &row, current.version())?;
            let v = saved.to_model()?;
            let diff =
                $crate::audit::diff(&ordo_core::util::to_json(&current.to_model()?), &ordo_core::util::to_json(&v));
            $crate::audit::record(conn, caller, ENTITY, id, "update", &diff)?;
            Ok(v)
        }

        /// Deleting a row other records still refer to is a 409 `in_use` (the foreign
        /// key says so; the transaction rolls back).
        pub fn delete(
            conn: &mut $crate::DbConnection,
            caller: &ordo_core::Caller,
            id: i64,
            if_match: Option<i64>,
        ) -> ordo_core::Result<ordo_core::util::Removal<Model>> {
            use diesel::prelude::*;
            use $crate::crud::Record;
            write(caller)?;
            let current = find(conn, id)?;
            ordo_core::util::check_version(if_match, current.version())?;
            diesel::delete($table::table.find(id)).execute(conn)?;
            $crate::audit::record(conn, caller, ENTITY, id, "delete", &ordo_core::util::to_json(&current.to_model()?))?;
            Ok(ordo_core::util::Removal::Deleted)
        }

        pub fn history(
            conn: &mut $crate::DbConnection,
            caller: &ordo_core::Caller,
            id: i64,
            page: &ordo_core::PageRequest,
        ) -> ordo_core::Result<ordo_core::Page<$crate::audit::Entry>> {
            read(caller)?;
            find(conn, id)?;
            $crate::audit::history(conn, ENTITY, id, page)
        }
    };
}

/// `Err(404 with errors[field])` unless a row with this id exists in `$table`.
#[macro_export]
macro_rules! require_ref {
    ($conn:expr, $table:ident, $id:expr, $entity:expr, $field:expr) => {{
        use diesel::prelude::*;
        let id: i64 = $id;
        let n: i64 = $table::table.filter($table::id.eq(id)).count().get_result($conn)?;
        if n == 0 {
            return Err(ordo_core::DomainError::reference_not_found($entity, $field, id));
        }
    }};
}

/// `Err(404 with errors[field])` when the optional id is given and missing.
#[macro_export]
macro_rules! require_opt_ref {
    ($conn:expr, $table:ident, $id:expr, $entity:expr, $field:expr) => {
        if let Some(id) = $id {
            $crate::require_ref!($conn, $table, id, $entity, $field);
        }
    };
}

/// Inserts many rows in as few statements as possible (chunks of 400 rows, well under
/// SQLite's bound-variable limit). Multi-row INSERT is not expressible through the
/// `MultiConnection` backend, so this is the one place that matches on the variant.
/// The row type must derive `Insertable` with `treat_none_as_default_value = false`:
/// otherwise diesel's SQLite backend inserts row by row inside its own transaction,
/// which cannot nest in ours.
#[macro_export]
macro_rules! insert_batch {
    ($conn:expr, $table:path, $rows:expr) => {{
        use diesel::prelude::*;
        let rows = $rows;
        let mut n = 0usize;
        for chunk in rows.chunks(400) {
            let q = diesel::insert_into($table).values(chunk);
            let small = chunk.len() <= $crate::prepared::PREPARED_ROWS;
            n += match $conn {
                // `execute` would lose the mark on its way to the cache: load a `1` a row.
                $crate::DbConnection::Pg(c) if small => {
                    $crate::Prepared(q.returning($crate::prepared::one())).get_results::<i32>(c)?.len()
                }
                $crate::DbConnection::Pg(c) => q.execute(c)?,
                $crate::DbConnection::Sqlite(c) => q.execute(c)?,
            };
        }
        n
    }};
    ($conn:expr, $table:path, $rows:expr, returning $cols:expr => $ty:ty) => {{
        use diesel::prelude::*;
        let rows = $rows;
        let mut out: Vec<$ty> = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(400) {
            let q = diesel::insert_into($table).values(chunk).returning($cols);
            let small = chunk.len() <= $crate::prepared::PREPARED_ROWS;
            out.extend(match $conn {
                $crate::DbConnection::Pg(c) if small => $crate::Prepared(q).get_results::<$ty>(c)?,
                $crate::DbConnection::Pg(c) => q.get_results::<$ty>(c)?,
                $crate::DbConnection::Sqlite(c) => q.get_results::<$ty>(c)?,
            });
        }
        out
    }};
}

/// `UPDATE $table SET <row> WHERE id = row.id AND version = expected RETURNING *`:
/// the optimistic-concurrency write every versioned resource uses; a lost race (or a
/// stale `If-Match`) is a 412.
#[macro_export]
macro_rules! save_versioned {
    ($conn:expr, $table:ident, $row:expr, $expected:expr) => {{
        use diesel::prelude::*;
        let row = $row;
        let expected: i64 = $expected;
        diesel::update($table::table.filter($table::id.eq(row.id)).filter($table::version.eq(expected)))
            .set(row)
            .returning($table::all_columns)
            .get_result($conn)
            .optional()?
            .ok_or_else(|| ordo_core::DomainError::stale_version(expected))
    }};
}

#[doc(hidden)]
pub use serde_json as __serde_json;

/// Orders a boxed list query by the page's sort and starts it after the cursor
/// (keyset pagination on `(key, id)`, never OFFSET), then limits it to `fetch()` rows.
/// `$id` is the table's id column; each `"key" => column: Type` is a sort the list
/// offers (the column must be NOT NULL). Unknown keys fall back to `id`.
#[macro_export]
macro_rules! keyset {
    ($q:expr, $page:expr, $id:path $(, $key:literal => $col:path : $ty:ty)* $(,)?) => {{
        #[allow(unused_imports)]
        use diesel::prelude::*;
        let mut q = $q;
        let page: &ordo_core::PageRequest = $page;
        let desc = page.sort.descending;
        #[allow(unused_mut)]
        let mut keyed = false;
        $(
            if page.sort.key == $key {
                keyed = true;
                q = if desc { q.order(($col.desc(), $id.desc())) } else { q.order(($col.asc(), $id.asc())) };
                if let (Some(after), Some(v)) = (page.after_id, page.after_key.clone()) {
                    let v: $ty = $crate::crud::__serde_json::from_value(v).map_err(|_| {
                        ordo_core::DomainError::field("cursor", "invalid", "not a cursor returned by this API")
                    })?;
                    q = if desc {
                        q.filter($col.lt(v.clone()).or($col.eq(v).and($id.lt(after))))
                    } else {
                        q.filter($col.gt(v.clone()).or($col.eq(v).and($id.gt(after))))
                    };
                }
            }
        )*
        if !keyed {
            q = if desc { q.order($id.desc()) } else { q.order($id.asc()) };
            if let Some(after) = page.after_id {
                q = if desc { q.filter($id.lt(after)) } else { q.filter($id.gt(after)) };
            }
        }
        q.limit(page.fetch())
    }};
}

/// Loads one page of a boxed list query in the page's sort: `keyset!` plus the cursor
/// of the last row. Each sort key names its column, its type and how to read it from a
/// loaded row, so the cursor always carries the value the query compares against.
/// `$rid` reads a row's id.
#[macro_export]
macro_rules! keyset_page {
    ($conn:expr, $q:expr, $page:expr, $id:path => $rid:expr $(, $key:literal => $col:path : $ty:ty = $get:expr)* $(,)?) => {{
        let page: &ordo_core::PageRequest = $page;
        let rows = $crate::keyset!($q, page, $id $(, $key => $col: $ty)*).load($conn)?;
        ordo_core::Page::from_sorted_rows(rows, page, |r| {
            let id: i64 = ($rid)(r);
            $(
                if page.sort.key == $key {
                    let k: $ty = ($get)(r);
                    return (id, $crate::crud::__serde_json::to_value(k).unwrap_or_default());
                }
            )*
            (id, $crate::crud::__serde_json::Value::Null)
        })
    }};
}

/// The total count of a filtered list query when the page asks for it
/// (`include_total=true`), else `None`. `$q` is the query before sorting and limits.
#[macro_export]
macro_rules! total {
    ($conn:expr, $page:expr, $q:expr) => {{
        let page: &ordo_core::PageRequest = $page;
        if page.include_total {
            use diesel::prelude::*;
            Some($q.count().get_result::<i64>($conn)?)
        } else {
            None
        }
    }};
}

/// id, version and timestamps around a create shape: the read model of a
/// configuration resource (`crud_service!`).
#[macro_export]
macro_rules! stored_model {
    ($model:ident, $create:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
        pub struct $model {
            pub id: i64,
            #[serde(flatten)]
            pub data: $create,
            pub version: i64,
            #[serde(with = "time::serde::rfc3339")]
            pub created_at: time::OffsetDateTime,
            #[serde(with = "time::serde::rfc3339")]
            pub updated_at: time::OffsetDateTime,
        }
    };
}

/// Implements `Record` for a row: how a create shape becomes a row (all columns) and back.
#[macro_export]
macro_rules! record {
    ($row:ident, $create:ty, $model:ident,
     from |$c:ident, $id:ident, $version:ident, $created:ident| $to_row:expr,
     to |$r:ident| $to_create:expr) => {
        impl $crate::crud::Record for $row {
            type Create = $create;
            type Model = $model;
            fn from_create($id: i64, $c: &$create, $version: i64, $created: time::PrimitiveDateTime) -> Self {
                $to_row
            }
            fn to_create(&self) -> ordo_core::Result<$create> {
                let $r = self;
                Ok($to_create)
            }
            fn to_model(&self) -> ordo_core::Result<$model> {
                Ok($model {
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
    };
}
