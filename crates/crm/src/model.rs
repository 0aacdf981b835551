use ordo_core::{Currency, Money, Rate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use validator::{Validate, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    Active,
    /// No new sales documents may be created for a blocked customer.
    Blocked,
}

impl CustomerStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CustomerStatus::Active => "active",
            CustomerStatus::Blocked => "blocked",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(CustomerStatus::Active),
            "blocked" => Some(CustomerStatus::Blocked),
            _ => None,
        }
    }
}

/// What a customer is invoiced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoicingPolicy {
    /// From the sales order, before or after delivery (`POST /sales-orders/{id}/invoice`).
    OnOrder,
    /// From what was shipped: per delivery, or from the order up to what was delivered.
    OnDelivery,
    /// Only collective invoices over a period (`POST /invoices/collective`).
    Periodic,
}

impl InvoicingPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoicingPolicy::OnOrder => "on_order",
            InvoicingPolicy::OnDelivery => "on_delivery",
            InvoicingPolicy::Periodic => "periodic",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::OnOrder, Self::OnDelivery, Self::Periodic].into_iter().find(|p| p.as_str() == s)
    }
}

/// How posted invoices reach a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceDelivery {
    /// Someone sends them (`POST /invoices/{id}/send`) or prints them.
    Manual,
    /// Mailed to the customer's e-mail address with the PDF when posted.
    Email,
}

impl InvoiceDelivery {
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceDelivery::Manual => "manual",
            InvoiceDelivery::Email => "email",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Email].into_iter().find(|p| p.as_str() == s)
    }
}

/// How sales tax applies to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    /// Items are taxed at their tax rate.
    Standard,
    /// No tax is charged.
    Exempt,
    /// No tax is charged; the customer accounts for it (EU B2B).
    ReverseCharge,
}

impl TaxTreatment {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaxTreatment::Standard => "standard",
            TaxTreatment::Exempt => "exempt",
            TaxTreatment::ReverseCharge => "reverse_charge",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(TaxTreatment::Standard),
            "exempt" => Some(TaxTreatment::Exempt),
            "reverse_charge" => Some(TaxTreatment::ReverseCharge),
            _ => None,
        }
    }
}

pub fn valid_tags(t: &[String]) -> Result<(), ValidationError> {
    if t.iter().all(|s| !s.trim().is_empty() && s.chars().count() <= 50) {
        Ok(())
    } else {
        let mut e = ValidationError::new("tags");
        e.message = Some("each tag must be 1 to 50 characters".into());
        Err(e)
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    #[validate(length(max = 20))]
    #[schema(max_length = 20)]
    pub postal_code: Option<String>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[validate(custom(function = "ordo_core::validate::country_code"))]
    #[schema(pattern = "^[A-Z]{2}$", example = "DE")]
    pub country: String,
}

/// A customer (a company or person the business sells to).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: i64,
    /// Document number from the `customer` series, e.g. `C-000123`.
    pub number: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub currency: Currency,
    pub payment_terms_days: i32,
    pub credit_limit: Option<Money>,
    pub parent_id: Option<i64>,
    /// The sales agent (user id) this customer is assigned to.
    pub owner_id: Option<i64>,
    pub status: CustomerStatus,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Optimistic-concurrency version; also the `ETag`.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Set when the customer was deleted while still referenced; archived customers
    /// are read-only and left out of default lists.
    #[serde(serialize_with = "ordo_core::serde_util::rfc3339_opt::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub archived_at: Option<OffsetDateTime>,
    /// The customer's price list; without one, the parent customer's, then the default list.
    pub price_list_id: Option<i64>,
    pub tax_treatment: TaxTreatment,
    /// General discount in percent on list prices.
    pub discount_percent: Option<Rate>,
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    /// The sales person who looks after the customer (documents default to them).
    pub sales_person_id: Option<i64>,
    /// The reseller the customer came through.
    pub sales_partner_id: Option<i64>,
    /// The campaign the customer was won by.
    pub campaign_id: Option<i64>,
    /// Contact the customer at least every this many days (`/reports/contact-overdue`).
    pub contact_frequency_days: Option<i32>,
    /// The warehouse this customer's orders are served from unless they name one.
    pub default_warehouse_id: Option<i64>,
    pub invoicing_policy: InvoicingPolicy,
    /// Limit on the credit exposure plus cheques not yet cleared (base currency).
    pub obligo_limit: Option<Money>,
    /// Electronic address for e-invoices (Peppol endpoint id, BT-49).
    pub endpoint_id: Option<String>,
    /// Peppol EAS code of `endpoint_id` (`0088` GLN, `9945` Polish VAT number, ...).
    pub endpoint_scheme: Option<String>,
    pub invoice_delivery: InvoiceDelivery,
    /// Mailed invoices and credit notes carry their UBL 2.1 / Peppol BIS 3 XML.
    pub e_invoice: bool,
    /// With `?expand=owner`: the owner's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expanded: Option<ordo_core::expand::Expanded>,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub legal_name: Option<String>,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub tax_id: Option<String>,
    #[validate(email)]
    #[schema(format = Email)]
    pub email: Option<String>,
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    #[validate(nested)]
    pub billing_address: Option<Address>,
    #[validate(nested)]
    pub shipping_address: Option<Address>,
    pub currency: Currency,
    /// Days until invoices fall due; default 30.
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub credit_limit: Option<Money>,
    pub parent_id: Option<i64>,
    /// Defaults to the caller when a sales agent creates the customer.
    pub owner_id: Option<i64>,
    pub status: Option<CustomerStatus>,
    #[validate(length(max = 50), custom(function = "valid_tags"))]
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    pub price_list_id: Option<i64>,
    /// Default `standard`.
    pub tax_treatment: Option<TaxTreatment>,
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    pub discount_percent: Option<Rate>,
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    #[validate(range(min = 1, max = 3650))]
    #[schema(minimum = 1, maximum = 3650)]
    pub contact_frequency_days: Option<i32>,
    /// The warehouse this customer's orders are served from unless they name one.
    pub default_warehouse_id: Option<i64>,
    /// Default `on_delivery`: never bill what has not shipped.
    pub invoicing_policy: Option<InvoicingPolicy>,
    /// Limit on the credit exposure plus cheques not yet cleared (base currency).
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    pub obligo_limit: Option<Money>,
    /// Electronic address for e-invoices (Peppol endpoint id, BT-49); with its scheme.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub endpoint_id: Option<String>,
    /// Peppol EAS code of `endpoint_id` (four digits: `0088` GLN, `9945` Polish VAT number).
    #[validate(custom(function = "valid_eas"))]
    #[schema(pattern = "^[0-9]{4}$")]
    pub endpoint_scheme: Option<String>,
    /// Default `manual`; `email` mails each invoice and credit note when posted.
    pub invoice_delivery: Option<InvoiceDelivery>,
    /// Attach the UBL XML to mailed invoices (default false).
    pub e_invoice: Option<bool>,
}

/// JSON merge-patch: absent fields stay, `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    #[schema(value_type = Option<String>)]
    pub legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(email)]
    #[schema(format = Email)]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(nested)]
    #[schema(value_type = Option<Address>)]
    pub billing_address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(nested)]
    #[schema(value_type = Option<Address>)]
    pub shipping_address: Option<Option<Address>>,
    pub currency: Option<Currency>,
    #[validate(range(min = 0, max = 3650))]
    #[schema(minimum = 0, maximum = 3650)]
    pub payment_terms_days: Option<i32>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    #[schema(value_type = Option<Money>)]
    pub credit_limit: Option<Option<Money>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    pub status: Option<CustomerStatus>,
    #[validate(length(max = 50), custom(function = "valid_tags"))]
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub price_list_id: Option<Option<i64>>,
    pub tax_treatment: Option<TaxTreatment>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "ordo_core::validate::percent_0_100"))]
    #[schema(value_type = Option<Rate>)]
    pub discount_percent: Option<Option<Rate>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub territory_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub customer_group_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub sales_person_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub sales_partner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub campaign_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(range(min = 1, max = 3650))]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    pub contact_frequency_days: Option<Option<i32>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[schema(value_type = Option<i64>)]
    pub default_warehouse_id: Option<Option<i64>>,
    pub invoicing_policy: Option<InvoicingPolicy>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "ordo_core::validate::non_negative_money"))]
    #[schema(value_type = Option<Money>)]
    pub obligo_limit: Option<Option<Money>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(min = 1, max = 100))]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub endpoint_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(custom(function = "valid_eas"))]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{4}$")]
    pub endpoint_scheme: Option<Option<String>>,
    pub invoice_delivery: Option<InvoiceDelivery>,
    pub e_invoice: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub q: Option<String>,
    pub owner_id: Option<i64>,
    pub status: Option<CustomerStatus>,
    pub parent_id: Option<i64>,
    pub updated_since: Option<OffsetDateTime>,
    pub include_archived: bool,
    pub territory_id: Option<i64>,
    pub customer_group_id: Option<i64>,
    pub sales_person_id: Option<i64>,
}

/// A person at a customer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub customer_id: i64,
    pub name: String,
    /// Their role at the customer, e.g. "purchasing".
    pub role: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// At most one primary contact per customer.
    pub is_primary: bool,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCreate {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub role: Option<String>,
    #[validate(email)]
    #[schema(format = Email)]
    pub email: Option<String>,
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[validate(custom(function = "ordo_core::validate::not_blank"), length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    #[schema(value_type = Option<String>)]
    pub role: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(email)]
    #[schema(format = Email)]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "ordo_core::serde_util::patch")]
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub is_primary: Option<bool>,
}

/// A Peppol EAS code: four digits.
fn valid_eas(v: &str) -> std::result::Result<(), validator::ValidationError> {
    if v.len() == 4 && v.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("eas").with_message("a four-digit Peppol EAS code".into()))
    }
}
