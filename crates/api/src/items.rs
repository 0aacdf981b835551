//! `/items` and `/item-groups`.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use ordo_catalog::model::*;
use ordo_catalog::service;
use ordo_core::Page;
use serde::Deserialize;

use crate::common::{history_page, page, removal_response, timestamp_param, HistoryEntry, PageQuery};
use crate::extract::{json_response, Auth, IfMatch, ReplyMeta, StrictQuery, ValidJson};
use crate::problem::Problem;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// Case-insensitive search in name and SKU.
    pub q: Option<String>,
    pub item_group_id: Option<i64>,
    pub kind: Option<ItemKind>,
    pub active: Option<bool>,
    /// Exact barcode match.
    pub barcode: Option<String>,
    /// Only items changed at or after this RFC 3339 timestamp.
    pub updated_since: Option<String>,
    pub include_archived: Option<bool>,
    /// The order of the list (default `id`, oldest first); `-` before a key for
    /// descending. Ties go by id. Keep it while paging: a cursor belongs to its sort.
    pub sort: Option<crate::crud::ItemSort>,
    /// Also answer `total`, the count of every matching row (costs a count query:
    /// ask on the first page only).
    pub include_total: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Create an item.
#[utoipa::path(
    tag = "items",
    operation_id = "createItem",
    request_body = ItemCreate,
    responses(
        (status = 201, description = "Created", body = Item, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "Duplicate SKU", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/items")]
pub async fn create_item(auth: Auth, body: ValidJson<ItemCreate>) -> Result<HttpResponse, Problem> {
    let input = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| service::create_item(c, caller, input),
        |v| ReplyMeta { location: Some(format!("/api/v1/items/{}", v.id)), version: Some(v.version) },
    )
    .await
}

/// List items.
#[utoipa::path(
    tag = "items",
    operation_id = "listItems",
    params(ItemQuery),
    responses((status = 200, description = "A page of items", body = Page<Item>))
)]
#[get("/items")]
pub async fn list_items(auth: Auth, q: StrictQuery<ItemQuery>) -> Result<HttpResponse, Problem> {
    let q = q.0;
    let mut page =
        crate::common::sorted_page(q.limit, q.cursor.as_deref(), q.sort.unwrap_or(crate::crud::ItemSort::Id).sort())?;
    page.include_total = q.include_total.unwrap_or(false);
    let filter = ItemFilter {
        q: q.q,
        item_group_id: q.item_group_id,
        kind: q.kind,
        active: q.active,
        barcode: q.barcode,
        updated_since: timestamp_param("updated_since", q.updated_since.as_deref())?,
        include_archived: q.include_archived.unwrap_or(false),
    };
    auth.list(page, move |c, caller, page| service::list_items(c, caller, &filter, page)).await
}

/// Get an item.
#[utoipa::path(
    tag = "items",
    operation_id = "getItem",
    params(("id" = i64, Path, description = "Item id")),
    responses((status = 200, description = "The item", body = Item, headers(("ETag" = String))))
)]
#[get("/items/{id}")]
pub async fn get_item(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let i = auth.read(move |c, caller| service::get_item(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &i, Some(i.version)))
}

/// Update an item (merge-patch).
#[utoipa::path(
    tag = "items",
    operation_id = "updateItem",
    params(("id" = i64, Path, description = "Item id")),
    request_body(content = ItemPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = Item, headers(("ETag" = String))),
        (status = 409, description = "Duplicate SKU, or the item is archived", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/items/{id}")]
pub async fn update_item(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<ItemPatch>,
) -> Result<HttpResponse, Problem> {
    let (id, patch) = (id.into_inner(), body.0);
    let i = auth
        .write(move |c, caller| {
            let i = service::update_item(c, caller, id, if_match.0, patch)?;
            // The item's group and kind weigh in the scores of open tickets about it.
            ordo_service::tickets::rescore(c, None, ordo_service::tickets::Rescore::Item(id))?;
            Ok(i)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &i, Some(i.version)))
}

/// Delete an item; archived instead while anything references it.
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItem",
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 200, description = "Still referenced, so archived", body = Item),
    )
)]
#[delete("/items/{id}")]
pub async fn delete_item(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let r = crate::attachments::delete_with_files(auth, crate::attachments::Owner::Item, id, move |c, caller| {
        service::delete_item(c, caller, id, if_match.0)
    })
    .await?;
    Ok(removal_response(r, |i| i.version))
}

/// The change history of an item.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemHistory",
    params(("id" = i64, Path, description = "Item id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/items/{id}/history")]
pub async fn item_history(auth: Auth, id: web::Path<i64>, q: StrictQuery<PageQuery>) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| service::item_history(c, caller, id, page).map(history_page)).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// Only direct children of this group.
    pub parent_id: Option<i64>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Create an item group.
#[utoipa::path(
    tag = "items",
    operation_id = "createItemGroup",
    request_body = ItemGroupCreate,
    responses(
        (status = 201, description = "Created", body = ItemGroup, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "Duplicate name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/item-groups")]
pub async fn create_item_group(auth: Auth, body: ValidJson<ItemGroupCreate>) -> Result<HttpResponse, Problem> {
    let input = body.0;
    auth.post(
        StatusCode::CREATED,
        move |c, caller| service::create_group(c, caller, input),
        |v| ReplyMeta { location: Some(format!("/api/v1/item-groups/{}", v.id)), version: Some(v.version) },
    )
    .await
}

/// List item groups.
#[utoipa::path(
    tag = "items",
    operation_id = "listItemGroups",
    params(GroupQuery),
    responses((status = 200, description = "A page of item groups", body = Page<ItemGroup>))
)]
#[get("/item-groups")]
pub async fn list_item_groups(auth: Auth, q: StrictQuery<GroupQuery>) -> Result<HttpResponse, Problem> {
    let q = q.0;
    let page = page(q.limit, q.cursor.as_deref())?;
    let parent = q.parent_id;
    auth.list(page, move |c, caller, page| service::list_groups(c, caller, parent, page)).await
}

/// Get an item group.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemGroup",
    params(("id" = i64, Path, description = "Item group id")),
    responses((status = 200, description = "The group", body = ItemGroup, headers(("ETag" = String))))
)]
#[get("/item-groups/{id}")]
pub async fn get_item_group(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let g = auth.read(move |c, caller| service::get_group(c, caller, id)).await?;
    Ok(json_response(StatusCode::OK, &g, Some(g.version)))
}

/// Update an item group (merge-patch); moving it under its own descendant is refused.
#[utoipa::path(
    tag = "items",
    operation_id = "updateItemGroup",
    params(("id" = i64, Path, description = "Item group id")),
    request_body(content = ItemGroupPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = ItemGroup, headers(("ETag" = String))),
        (status = 409, description = "Duplicate name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/item-groups/{id}")]
pub async fn update_item_group(
    auth: Auth,
    id: web::Path<i64>,
    if_match: IfMatch,
    body: ValidJson<ItemGroupPatch>,
) -> Result<HttpResponse, Problem> {
    let (id, patch) = (id.into_inner(), body.0);
    let g = auth.write(move |c, caller| service::update_group(c, caller, id, if_match.0, patch)).await?;
    Ok(json_response(StatusCode::OK, &g, Some(g.version)))
}

/// Delete an item group that no item or subgroup uses.
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItemGroup",
    params(("id" = i64, Path, description = "Item group id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Still used by items or subgroups", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/item-groups/{id}")]
pub async fn delete_item_group(auth: Auth, id: web::Path<i64>, if_match: IfMatch) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.write(move |c, caller| service::delete_group(c, caller, id, if_match.0)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The change history of an item group.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemGroupHistory",
    params(("id" = i64, Path, description = "Item group id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/item-groups/{id}/history")]
pub async fn item_group_history(
    auth: Auth,
    id: web::Path<i64>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let (id, page) = (id.into_inner(), q.0.page()?);
    auth.list(page, move |c, caller, page| service::group_history(c, caller, id, page).map(history_page)).await
}

impl crate::crud::Resource for ordo_catalog::units::Unit {
    fn id(&self) -> i64 {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
}

use ordo_catalog::units::{ItemUnit, ItemUnitCreate, Unit, UnitCreate, UnitPatch};

crate::crud_resource! {
    module: units,
    tag: "items",
    collection: "/units",
    member: "/units/{id}",
    history: "/units/{id}/history",
    location: "/api/v1/units/{}",
    model: Unit,
    create: UnitCreate,
    patch: UnitPatch,
    query: PageQuery,
    service: ordo_catalog::units::unit_service,
    ids: ["createUnit", "listUnits", "getUnit", "updateUnit", "deleteUnit", "getUnitHistory"],
    summaries: ["Define a unit of measure", "List units of measure", "Get a unit", "Update a unit", "Delete an unused unit", "History of a unit"],
}

/// The units an item may be sold in besides its base unit, with their factors.
#[utoipa::path(
    tag = "items",
    operation_id = "listItemUnits",
    params(("id" = i64, Path, description = "Item id")),
    responses((status = 200, description = "Conversions (one page)", body = Page<ItemUnit>))
)]
#[get("/items/{id}/units")]
pub async fn list_item_units(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.list_one(move |c, caller| ordo_catalog::units::item_unit_service::list(c, caller, id)).await
}

/// Allow selling an item in another unit: `factor` base units per unit (BOX = 12 PCS).
#[utoipa::path(
    tag = "items",
    operation_id = "createItemUnit",
    params(("id" = i64, Path, description = "Item id")),
    request_body = ItemUnitCreate,
    responses(
        (status = 201, description = "Created", body = ItemUnit, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The item already converts this unit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/items/{id}/units")]
pub async fn create_item_unit(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ItemUnitCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| ordo_catalog::units::item_unit_service::create(c, caller, id, input),
        |v| ReplyMeta {
            location: Some(format!("/api/v1/items/{}/units/{}", v.item_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// Remove a unit conversion from an item.
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItemUnit",
    params(("id" = i64, Path, description = "Item id"), ("unit_id" = i64, Path, description = "Item unit id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/items/{id}/units/{unit_id}")]
pub async fn delete_item_unit(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, unit_id) = path.into_inner();
    auth.write(move |c, caller| ordo_catalog::units::item_unit_service::delete(c, caller, id, unit_id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

use ordo_catalog::structures::{
    component_service, option_service, ItemComponent, ItemComponentCreate, ItemComponentPatch, OptionGroup,
    OptionGroupCreate,
};
use ordo_catalog::units::ItemUnitPatch;
use ordo_core::body::MergePatch;

/// Change a unit conversion's factor (merge-patch).
#[utoipa::path(
    tag = "items",
    operation_id = "updateItemUnit",
    params(("id" = i64, Path, description = "Item id"), ("unit_id" = i64, Path, description = "Item unit id")),
    request_body(content = ItemUnitPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = ItemUnit, headers(("ETag" = String))))
)]
#[patch("/items/{id}/units/{unit_id}")]
pub async fn update_item_unit(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<ItemUnitPatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, uid), p) = (path.into_inner(), body.0);
    let v = auth
        .write(move |c, caller| ordo_catalog::units::item_unit_service::update(c, caller, id, uid, if_match.0, p))
        .await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// The change history of a unit conversion.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemUnitHistory",
    params(("id" = i64, Path, description = "Item id"), ("unit_id" = i64, Path, description = "Item unit id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/items/{id}/units/{unit_id}/history")]
pub async fn item_unit_history(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let ((id, uid), p) = (path.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| {
        ordo_catalog::units::item_unit_service::history(c, caller, id, uid, p).map(history_page)
    })
    .await
}

/// Change a component's quantity, required flag or price override (merge-patch).
#[utoipa::path(
    tag = "items",
    operation_id = "updateItemComponent",
    params(("id" = i64, Path, description = "Item id"), ("component_id" = i64, Path, description = "Component id")),
    request_body(content = ItemComponentPatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = ItemComponent, headers(("ETag" = String))))
)]
#[patch("/items/{id}/components/{component_id}")]
pub async fn update_item_component(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<ItemComponentPatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, cid), p) = (path.into_inner(), body.0);
    let v = auth.write(move |c, caller| component_service::update(c, caller, id, cid, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// The change history of a component.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemComponentHistory",
    params(("id" = i64, Path, description = "Item id"), ("component_id" = i64, Path, description = "Component id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/items/{id}/components/{component_id}/history")]
pub async fn item_component_history(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let ((id, cid), p) = (path.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| component_service::history(c, caller, id, cid, p).map(history_page)).await
}

/// Change an option group (merge-patch of its create shape; `choices` is replaced whole).
#[utoipa::path(
    tag = "items",
    operation_id = "updateItemOptionGroup",
    params(("id" = i64, Path, description = "Item id"), ("option_id" = i64, Path, description = "Option group id")),
    request_body(content = MergePatch, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "Updated", body = OptionGroup, headers(("ETag" = String))))
)]
#[patch("/items/{id}/options/{option_id}")]
pub async fn update_item_option_group(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    if_match: IfMatch,
    body: ValidJson<MergePatch>,
) -> Result<HttpResponse, Problem> {
    let ((id, oid), p) = (path.into_inner(), body.0);
    let v = auth.write(move |c, caller| option_service::update(c, caller, id, oid, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// The change history of an option group.
#[utoipa::path(
    tag = "items",
    operation_id = "getItemOptionGroupHistory",
    params(("id" = i64, Path, description = "Item id"), ("option_id" = i64, Path, description = "Option group id"), PageQuery),
    responses((status = 200, description = "History, oldest first", body = Page<HistoryEntry>))
)]
#[get("/items/{id}/options/{option_id}/history")]
pub async fn item_option_group_history(
    auth: Auth,
    path: web::Path<(i64, i64)>,
    q: StrictQuery<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let ((id, oid), p) = (path.into_inner(), q.0.page()?);
    auth.list(p, move |c, caller, p| option_service::history(c, caller, id, oid, p).map(history_page)).await
}

/// The item's product structure: its components, required and optional.
#[utoipa::path(
    tag = "items",
    operation_id = "listItemComponents",
    params(("id" = i64, Path, description = "Item id")),
    responses((status = 200, description = "Components (one page)", body = Page<ItemComponent>))
)]
#[get("/items/{id}/components")]
pub async fn list_item_components(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.list_one(move |c, caller| component_service::list(c, caller, id)).await
}

/// Add a component to an item (making it a bundle). A component that contains the item is refused.
#[utoipa::path(
    tag = "items",
    operation_id = "createItemComponent",
    params(("id" = i64, Path, description = "Item id")),
    request_body = ItemComponentCreate,
    responses(
        (status = 201, description = "Created", body = ItemComponent, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "Already a component", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/items/{id}/components")]
pub async fn create_item_component(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<ItemComponentCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| component_service::create(c, caller, id, input),
        |v| ReplyMeta {
            location: Some(format!("/api/v1/items/{}/components/{}", v.item_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// Remove a component from an item's structure.
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItemComponent",
    params(("id" = i64, Path, description = "Item id"), ("component_id" = i64, Path, description = "Component id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/items/{id}/components/{component_id}")]
pub async fn delete_item_component(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, cid) = path.into_inner();
    auth.write(move |c, caller| component_service::delete(c, caller, id, cid)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The item's option groups (e.g. colour: red/blue) with their choices.
#[utoipa::path(
    tag = "items",
    operation_id = "listItemOptions",
    params(("id" = i64, Path, description = "Item id")),
    responses((status = 200, description = "Option groups (one page)", body = Page<OptionGroup>))
)]
#[get("/items/{id}/options")]
pub async fn list_item_options(auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    auth.list_one(move |c, caller| option_service::list(c, caller, id)).await
}

/// Add an option group; each choice may add a price delta or a component.
#[utoipa::path(
    tag = "items",
    operation_id = "createItemOptionGroup",
    params(("id" = i64, Path, description = "Item id")),
    request_body = OptionGroupCreate,
    responses(
        (status = 201, description = "Created", body = OptionGroup, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The item already has a group with this name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/items/{id}/options")]
pub async fn create_item_option_group(
    auth: Auth,
    id: web::Path<i64>,
    body: ValidJson<OptionGroupCreate>,
) -> Result<HttpResponse, Problem> {
    let (id, input) = (id.into_inner(), body.0);
    auth.post(
        StatusCode::CREATED,
        move |c, caller| option_service::create(c, caller, id, input),
        |v| ReplyMeta {
            location: Some(format!("/api/v1/items/{}/options/{}", v.item_id, v.id)),
            version: Some(v.version),
        },
    )
    .await
}

/// Remove an option group.
#[utoipa::path(
    tag = "items",
    operation_id = "deleteItemOptionGroup",
    params(("id" = i64, Path, description = "Item id"), ("option_id" = i64, Path, description = "Option group id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/items/{id}/options/{option_id}")]
pub async fn delete_item_option_group(auth: Auth, path: web::Path<(i64, i64)>) -> Result<HttpResponse, Problem> {
    let (id, oid) = path.into_inner();
    auth.write(move |c, caller| option_service::delete(c, caller, id, oid)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn unit_routes(cfg: &mut crate::routing::Routes) {
    units::routes(cfg);
    cfg.service(list_item_units)
        .service(create_item_unit)
        .service(delete_item_unit)
        .service(update_item_unit)
        .service(item_unit_history)
        .service(update_item_component)
        .service(item_component_history)
        .service(update_item_option_group)
        .service(item_option_group_history)
        .service(list_item_components)
        .service(create_item_component)
        .service(delete_item_component)
        .service(list_item_options)
        .service(create_item_option_group)
        .service(delete_item_option_group);
}
