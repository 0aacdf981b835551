//! Sales organisation endpoints: territories, customer groups, sales persons, sales
//! partners, campaigns.

use ordo_core::body::MergePatch;
use ordo_crm::team::*;

/// `Resource` for models with `id` and `version` fields.
#[macro_export]
macro_rules! team_resource {
    ($($t:ty),*) => {$(
        impl $crate::crud::Resource for $t {
            fn id(&self) -> i64 { self.id }
            fn version(&self) -> i64 { self.version }
        }
    )*};
}
crate::team_resource!(Territory, CustomerGroup, SalesPerson, SalesPartner, Campaign);

crate::list_query!(TerritoryQuery => territory_service::Filter {
    /// Direct children of this territory.
    parent_id: Option<i64>,
});
crate::list_query!(SalesPersonQuery => sales_person_service::Filter {
    manager_id: Option<i64>,
    territory_id: Option<i64>,
    active: Option<bool>,
});
crate::list_query!(ActiveQuery => sales_partner_service::Filter {
    active: Option<bool>,
});
crate::list_query!(CampaignQuery => campaign_service::Filter {
    active: Option<bool>,
});

crate::crud_resource! {
    module: territories,
    tag: "sales-team",
    collection: "/territories",
    member: "/territories/{id}",
    history: "/territories/{id}/history",
    location: "/api/v1/territories/{}",
    model: Territory,
    create: TerritoryCreate,
    patch: MergePatch,
    query: TerritoryQuery,
    service: ordo_crm::team::territory_service,
    ids: ["createTerritory", "listTerritories", "getTerritory", "updateTerritory", "deleteTerritory", "getTerritoryHistory"],
    summaries: ["Create a territory", "List territories", "Get a territory", "Update a territory (merge-patch)", "Delete an unused territory", "History of a territory"],
}

crate::crud_resource! {
    module: customer_groups,
    tag: "sales-team",
    collection: "/customer-groups",
    member: "/customer-groups/{id}",
    history: "/customer-groups/{id}/history",
    location: "/api/v1/customer-groups/{}",
    model: CustomerGroup,
    create: CustomerGroupCreate,
    patch: MergePatch,
    query: PageQuery,
    service: ordo_crm::team::customer_group_service,
    ids: ["createCustomerGroup", "listCustomerGroups", "getCustomerGroup", "updateCustomerGroup", "deleteCustomerGroup", "getCustomerGroupHistory"],
    summaries: ["Create a customer group", "List customer groups", "Get a customer group", "Update a customer group (merge-patch)", "Delete an unused customer group", "History of a customer group"],
}

crate::crud_resource! {
    module: sales_persons,
    tag: "sales-team",
    collection: "/sales-persons",
    member: "/sales-persons/{id}",
    history: "/sales-persons/{id}/history",
    location: "/api/v1/sales-persons/{}",
    model: SalesPerson,
    create: SalesPersonCreate,
    patch: MergePatch,
    query: SalesPersonQuery,
    service: ordo_crm::team::sales_person_service,
    ids: ["createSalesPerson", "listSalesPersons", "getSalesPerson", "updateSalesPerson", "deleteSalesPerson", "getSalesPersonHistory"],
    summaries: ["Create a sales person", "List sales persons", "Get a sales person", "Update a sales person (merge-patch)", "Delete a sales person nothing refers to", "History of a sales person"],
}

crate::crud_resource! {
    module: sales_partners,
    tag: "sales-team",
    collection: "/sales-partners",
    member: "/sales-partners/{id}",
    history: "/sales-partners/{id}/history",
    location: "/api/v1/sales-partners/{}",
    model: SalesPartner,
    create: SalesPartnerCreate,
    patch: MergePatch,
    query: ActiveQuery,
    service: ordo_crm::team::sales_partner_service,
    ids: ["createSalesPartner", "listSalesPartners", "getSalesPartner", "updateSalesPartner", "deleteSalesPartner", "getSalesPartnerHistory"],
    summaries: ["Create a sales partner", "List sales partners", "Get a sales partner", "Update a sales partner (merge-patch)", "Delete a sales partner nothing refers to", "History of a sales partner"],
}

crate::crud_resource! {
    module: campaigns,
    tag: "sales-team",
    collection: "/campaigns",
    member: "/campaigns/{id}",
    history: "/campaigns/{id}/history",
    location: "/api/v1/campaigns/{}",
    model: Campaign,
    create: CampaignCreate,
    patch: MergePatch,
    query: CampaignQuery,
    service: ordo_crm::team::campaign_service,
    ids: ["createCampaign", "listCampaigns", "getCampaign", "updateCampaign", "deleteCampaign", "getCampaignHistory"],
    summaries: ["Create a campaign", "List campaigns", "Get a campaign", "Update a campaign (merge-patch)", "Delete a campaign nothing refers to", "History of a campaign"],
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    territories::routes(cfg);
    customer_groups::routes(cfg);
    sales_persons::routes(cfg);
    sales_partners::routes(cfg);
    campaigns::routes(cfg);
}
