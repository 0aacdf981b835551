//! One macro for the standard resource shape — create, list, get, merge-patch,
//! delete, history — so every configuration resource behaves (and is documented)
//! exactly the same way. Domain services provide the six functions.

use ordo_core::PageRequest;

use crate::problem::Problem;

/// A list endpoint's query string: filters plus `limit`/`cursor`.
pub trait ListQuery {
    type Filter: Send + 'static;
    fn split(self) -> Result<(Self::Filter, PageRequest), Problem>;
}

/// What handlers need to know of a resource to answer with Location and ETag.
pub trait Resource {
    fn id(&self) -> i64;
    fn version(&self) -> i64;
}

/// Generates `pub mod $module` with the six handlers over `$service`.
#[macro_export]
macro_rules! crud_resource {
    (
        module: $module:ident,
        tag: $tag:tt,
        collection: $collection:tt,
        member: $member:tt,
        history: $history:tt,
        location: $location:tt,
        model: $model:ty,
        create: $create:ty,
        patch: $patch:ty,
        query: $query:ty,
        service: $($service:ident)::+,
        ids: [$c_id:tt, $l_id:tt, $g_id:tt, $u_id:tt, $d_id:tt, $h_id:tt],
        summaries: [$c_s:tt, $l_s:tt, $g_s:tt, $u_s:tt, $d_s:tt, $h_s:tt] $(,)?
    ) => {
        pub mod $module {
            use actix_web::http::StatusCode;
            use actix_web::{delete, get, patch, post, web, HttpResponse};
            use ordo_core::Page;
            #[allow(unused_imports)]
            use super::*;
            use $crate::common::{history_page, removal_response, HistoryEntry, PageQuery};
            use $crate::crud::{ListQuery, Resource};
            use $crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
            use $crate::problem::Problem;
            use $($service)::+ as service;

            #[utoipa::path(
                tag = $tag, operation_id = $c_id, summary = $c_s,
                request_body = $create,
                responses((status = 201, description = "Created", body = $model,
                           headers(("ETag" = String), ("Location" = String))))
            )]
            #[post($collection)]
            pub async fn create_one(auth: Auth, body: ValidJson<$create>) -> Result<HttpResponse, Problem> {
                let input = body.0;
                auth.post(
                    StatusCode::CREATED,
                    move |c, caller| service::create(c, caller, input),
                    |v| ReplyMeta { location: Some(format!($location, v.id())), version: Some(v.version()) },
                )
                .await
            }

            #[utoipa::path(
                tag = $tag, operation_id = $l_id, summary = $l_s,
                params($query),
                responses((status = 200, description = "A page", body = Page<$model>))
            )]
            #[get($collection)]
            pub async fn list_all(auth: Auth, q: StrictQuery<$query>) -> Result<HttpResponse, Problem> {
                let (filter, page) = q.0.split()?;
                auth.list(page, move |c, caller, page| service::list(c, caller, &filter, page)).await
            }

            #[utoipa::path(
                tag = $tag, operation_id = $g_id, summary = $g_s,
                params(("id" = i64, Path, description = "Id")),
                responses((status = 200, description = "Found", body = $model, headers(("ETag" = String))))
            )]
            #[get($member)]
            pub async fn get_one(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
                let id = id.into_inner();
                let v = auth.read(move |c, caller| service::get(c, caller, id)).await?;
                Ok(json_response(StatusCode::OK, &v, Some(v.version())))
            }

            #[utoipa::path(
                tag = $tag, operation_id = $u_id, summary = $u_s,
                params(("id" = i64, Path, description = "Id")),
                request_body(content = $patch, content_type = "application/merge-patch+json"),
                responses((status = 200, description = "Updated", body = $model, headers(("ETag" = String))))
            )]
            #[patch($member)]
            pub async fn update_one(
                auth: Auth,
                id: web::Path<i64>,
                if_match: IfMatch,
                body: ValidJson<$patch>,
            ) -> Result<HttpResponse, Problem> {
                let (id, patch) = (id.into_inner(), body.0);
                let v = auth.write(move |c, caller| service::update(c, caller, id, if_match.0, patch)).await?;
                Ok(json_response(StatusCode::OK, &v, Some(v.version())))
            }

            #[utoipa::path(
                tag = $tag, operation_id = $d_id, summary = $d_s,
                params(("id" = i64, Path, description = "Id")),
                responses(
                    (status = 204, description = "Deleted"),
                    (status = 200, description = "Still referenced, so archived", body = $model),
                )
            )]
            #[delete($member)]
            pub async fn delete_one(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
                let id = id.into_inner();
                let r = auth.write(move |c, caller| service::delete(c, caller, id, if_match.0)).await?;
                Ok(removal_response(r, |v| v.version()))
            }

            #[utoipa::path(
                tag = $tag, operation_id = $h_id, summary = $h_s,
                params(("id" = i64, Path, description = "Id"), PageQuery),
                responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
            )]
            #[get($history)]
            pub async fn history(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
                let (id, page) = (id.into_inner(), q.0.page()?);
                auth.list(page, move |c, caller, page| service::history(c, caller, id, page).map(history_page)).await
            }

            /// Registers the six handlers.
            pub fn routes(cfg: &mut $crate::routing::Routes) {
                cfg.service(create_one)
                    .service(list_all)
                    .service(get_one)
                    .service(update_one)
                    .service(delete_one)
                    .service(history);
            }
        }
    };
}

/// `ListQuery` for a plain `PageQuery` (no filters).
impl ListQuery for crate::common::PageQuery {
    type Filter = ();
    fn split(self) -> Result<((), PageRequest), Problem> {
        Ok(((), self.page()?))
    }
}

/// The sorts a list offers, as a typed enum for the contract: each key ascending
/// (`number`) and descending (`-number`).
#[macro_export]
macro_rules! sort_enum {
    ($(#[$doc:meta])* $name:ident { $( $asc:ident = $key:literal / $desc:ident = $dkey:literal ),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $(
                #[serde(rename = $key)]
                $asc,
                #[serde(rename = $dkey)]
                $desc,
            )+
        }
        impl $name {
            pub fn sort(self) -> ordo_core::Sort {
                match self {
                    $(
                        Self::$asc => ordo_core::Sort { key: $key, descending: false },
                        Self::$desc => ordo_core::Sort { key: $key, descending: true },
                    )+
                }
            }
        }
    };
}

sort_enum!(
    /// Creation order: `id` oldest first, `-id` newest first.
    IdSort { Id = "id" / IdDesc = "-id" }
);

/// A list query whose filters map one to one onto the service's `Filter` fields,
/// plus `sort`, `limit` and `cursor`. Without `sort: Type = default`, the list sorts by
/// `id` (oldest first unless `-id`).
#[macro_export]
macro_rules! list_query {
    ($name:ident => $filter:ty { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $crate::list_query!($name => $filter { $( $(#[$fm])* $field : $ty ),* } sort: $crate::crud::IdSort = $crate::crud::IdSort::Id);
    };
    ($name:ident => $filter:ty { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? } sort: $sort:ty = $default:expr) => {
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
            /// The order of the list; `-` before a key for descending. Ties go by id.
            /// Keep it while paging: a cursor belongs to its sort.
            pub sort: Option<$sort>,
            #[param(minimum = 1, maximum = 200)]
            pub limit: Option<i64>,
            pub cursor: Option<String>,
        }

        impl $crate::crud::ListQuery for $name {
            type Filter = $filter;
            fn split(self) -> Result<(Self::Filter, ordo_core::PageRequest), $crate::problem::Problem> {
                let sort = self.sort.unwrap_or($default).sort();
                let p = $crate::common::sorted_page(self.limit, self.cursor.as_deref(), sort)?;
                Ok((Self::Filter { $( $field: self.$field ),* }, p))
            }
        }
    };
    // A document list: also `q`, `updated_since`, `date_from`, `date_to`.
    ($name:ident => $filter:ty { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? } sort: $sort:ty = $default:expr, documents: $date_doc:literal) => {
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
            /// Search: number prefix, part of the customer's name or of the customer's
            /// PO number (case-insensitive).
            pub q: Option<String>,
            /// Only documents changed at or after this instant (RFC 3339): for syncing.
            #[serde(default, with = "time::serde::rfc3339::option")]
            #[param(value_type = Option<String>, format = DateTime)]
            pub updated_since: Option<time::OffsetDateTime>,
            #[doc = concat!("From this ", $date_doc, " on (inclusive, `YYYY-MM-DD`).")]
            #[serde(default, with = "ordo_core::serde_util::date::option")]
            #[param(value_type = Option<String>, format = Date)]
            pub date_from: Option<time::Date>,
            #[doc = concat!("Up to this ", $date_doc, " (inclusive, `YYYY-MM-DD`).")]
            #[serde(default, with = "ordo_core::serde_util::date::option")]
            #[param(value_type = Option<String>, format = Date)]
            pub date_to: Option<time::Date>,
            /// The order of the list; `-` before a key for descending (default `-id`,
            /// newest first). Ties go by id. Keep it while paging: a cursor belongs to
            /// its sort.
            pub sort: Option<$sort>,
            /// Also answer `total`, the count of every matching row (costs a count
            /// query: ask on the first page only).
            pub include_total: Option<bool>,
            /// Embed what the document refers to, comma-separated: `customer`, `contact`,
            /// `owner` (the customer's owner: display name), `sales_person`, `lines.item` (where
            /// lines are in the answer). One query per kind for the whole page.
            #[serde(default, deserialize_with = "ordo_core::expand::comma_list")]
            #[param(value_type = Option<Vec<ordo_sales_docs::expand::Expand>>, style = Form, explode = false)]
            pub expand: Vec<ordo_sales_docs::expand::Expand>,
            #[param(minimum = 1, maximum = 200)]
            pub limit: Option<i64>,
            pub cursor: Option<String>,
        }

        impl $crate::crud::ListQuery for $name {
            type Filter = $filter;
            fn split(self) -> Result<(Self::Filter, ordo_core::PageRequest), $crate::problem::Problem> {
                let sort = self.sort.unwrap_or($default).sort();
                let mut p = $crate::common::sorted_page(self.limit, self.cursor.as_deref(), sort)?;
                p.include_total = self.include_total.unwrap_or(false);
                let search = ordo_sales_docs::docs::DocSearch {
                    q: self.q,
                    updated_since: self.updated_since,
                    date_from: self.date_from,
                    date_to: self.date_to,
                    expand: self.expand,
                };
                Ok((Self::Filter { $( $field: self.$field, )* search }, p))
            }
        }
    };
}

sort_enum!(
    /// `number`, `date` (document date), `total` (gross, document currency),
    /// `customer_name`, `created_at`, `updated_at`, `id`; `-` for descending.
    DocumentSort {
        Number = "number" / NumberDesc = "-number",
        Date = "date" / DateDesc = "-date",
        Total = "total" / TotalDesc = "-total",
        CustomerName = "customer_name" / CustomerNameDesc = "-customer_name",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

sort_enum!(
    /// `number`, `name`, `created_at`, `updated_at`, `id`; `-` for descending.
    CustomerSort {
        Number = "number" / NumberDesc = "-number",
        Name = "name" / NameDesc = "-name",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

sort_enum!(
    /// `sku`, `name`, `created_at`, `updated_at`, `id`; `-` for descending.
    ItemSort {
        Sku = "sku" / SkuDesc = "-sku",
        Name = "name" / NameDesc = "-name",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

sort_enum!(
    /// `number`, `created_at`, `updated_at`, `id`; `-` for descending.
    LeadSort {
        Number = "number" / NumberDesc = "-number",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

sort_enum!(
    /// `title`, `amount` (in the opportunity's currency), `stage_changed_at`,
    /// `created_at`, `updated_at`, `id`; `-` for descending.
    OpportunitySort {
        Title = "title" / TitleDesc = "-title",
        Amount = "amount" / AmountDesc = "-amount",
        StageChangedAt = "stage_changed_at" / StageChangedAtDesc = "-stage_changed_at",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

sort_enum!(
    /// `number`, `customer_name`, `created_at`, `updated_at`, `id`; `-` for descending.
    DeliverySort {
        Number = "number" / NumberDesc = "-number",
        CustomerName = "customer_name" / CustomerNameDesc = "-customer_name",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

sort_enum!(
    /// `number`, `date` (valid from), `customer_name`, `created_at`, `updated_at`,
    /// `id`; `-` for descending.
    BlanketSort {
        Number = "number" / NumberDesc = "-number",
        Date = "date" / DateDesc = "-date",
        CustomerName = "customer_name" / CustomerNameDesc = "-customer_name",
        CreatedAt = "created_at" / CreatedAtDesc = "-created_at",
        UpdatedAt = "updated_at" / UpdatedAtDesc = "-updated_at",
        Id = "id" / IdDesc = "-id",
    }
);

/// A state-changing action `POST {path}` on one resource (`/{collection}/{id}/{verb}`):
/// one transaction, `If-Match` honoured, the resource's new state answered with its
/// `ETag`. With `body: T` the request body is validated JSON of type `T`. The calling
/// module must `use actix_web::post` (utoipa recognises the handler by that attribute).
#[macro_export]
macro_rules! action {
    (
        $(#[$doc:meta])*
        fn $name:ident, tag: $tag:tt, id: $op:tt, path: $path:tt, model: $model:ty,
        $(body: $body:ty,)?
        $(base: $base:ident,)?
        call: |$c:ident, $caller:ident, $id:ident, $if_match:ident $(, $input:ident)?| $call:expr $(,)?
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            tag = $tag, operation_id = $op,
            params(("id" = i64, Path, description = "Id")),
            $(request_body = $body,)?
            responses((status = 200, description = "The new state", body = $model, headers(("ETag" = String))))
        )]
        #[post($path)]
        pub async fn $name(
            auth: $crate::extract::Auth,
            id: actix_web::web::Path<i64>,
            if_match: $crate::extract::IfMatch,
            $(body: $crate::extract::ValidJson<$body>,)?
        ) -> Result<actix_web::HttpResponse, $crate::problem::Problem> {
            use $crate::crud::Resource;
            let $id = id.into_inner();
            let $if_match = if_match.0;
            $(let $input: $body = body.0;)?
            $(let $base = auth.db_state().config.base_currency;)?
            auth.post(
                actix_web::http::StatusCode::OK,
                move |$c, $caller| $call,
                |v| $crate::extract::ReplyMeta { location: None, version: Some(v.version()) },
            )
            .await
        }
    };
}

/// `GET .../{id}/history` for a resource outside `crud_resource!`: the audit trail of
/// one object the caller may see (`call` checks visibility), oldest first. Like
/// `action!`, the calling module imports `actix_web::get` (utoipa reads the attribute).
#[macro_export]
macro_rules! history_endpoint {
    (
        $(#[$doc:meta])*
        fn $name:ident, tag: $tag:tt, id: $op:tt, path: $path:tt,
        call: |$c:ident, $caller:ident, $id:ident, $page:ident| $call:expr $(,)?
    ) => {
        $(#[$doc])*
        #[utoipa::path(tag = $tag, operation_id = $op,
            params(("id" = i64, Path, description = "Id"), $crate::common::PageQuery),
            responses((status = 200, description = "History, oldest first", body = ordo_core::Page<$crate::common::HistoryEntry>)))]
        #[get($path)]
        pub async fn $name(
            auth: $crate::extract::Auth,
            id: actix_web::web::Path<i64>,
            q: $crate::extract::StrictQuery<$crate::common::PageQuery>,
        ) -> Result<actix_web::HttpResponse, $crate::problem::Problem> {
            let ($id, $page) = (id.into_inner(), q.0.page()?);
            auth.list($page, move |$c, $caller, $page| $call.map($crate::common::history_page)).await
        }
    };
}
