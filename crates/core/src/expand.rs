//! `?expand=`: what can be embedded and the summaries that are (the loading lives
//! with the documents, in `ordo_sales_docs::expand`).

use serde::{Deserialize, Deserializer, Serialize};

/// What `?expand=` can embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum Expand {
    /// The customer: number, name, status, owner.
    #[serde(rename = "customer")]
    Customer,
    /// The contact person (where the document has one).
    #[serde(rename = "contact")]
    Contact,
    /// The customer's owner: the responsible user's display name.
    #[serde(rename = "owner")]
    Owner,
    /// The sales person credited with the document.
    #[serde(rename = "sales_person")]
    SalesPerson,
    /// Each line's item: SKU, name, base unit. Where lines are in the answer (a single
    /// document; deliveries in lists too).
    #[serde(rename = "lines.item")]
    LinesItem,
}

/// Parses `expand=customer,lines.item` (comma-separated, as OpenAPI's `style: form,
/// explode: false` sends an array); repeats are harmless.
pub fn comma_list<'de, D: Deserializer<'de>, T: for<'a> Deserialize<'a>>(d: D) -> Result<Vec<T>, D::Error> {
    let raw = Option::<String>::deserialize(d)?.unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s))
                .map_err(|e| serde::de::Error::custom(format!("unknown value `{s}`: {e}")))
        })
        .collect()
}

/// What `?expand=` can embed in a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum CustomerExpand {
    /// The owner's display name.
    #[serde(rename = "owner")]
    Owner,
}

impl From<CustomerExpand> for Expand {
    fn from(e: CustomerExpand) -> Expand {
        match e {
            CustomerExpand::Owner => Expand::Owner,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerRef {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub status: String,
    pub owner_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactRef {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A user as others see them on records: id and display name.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserRef {
    pub id: i64,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SalesPersonRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ItemRef {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub base_unit: String,
}

/// The embedded objects of a document: each present only when asked for with
/// `?expand=` (and when the document refers to one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Expanded {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_person: Option<SalesPersonRef>,
}
