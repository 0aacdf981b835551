//! The company's own settings (one record): the seller on every printed document and
//! e-invoice — legal name, address, tax id, bank account, electronic address — and the
//! default language of documents.

use actix_web::http::StatusCode;
use actix_web::{get, put, HttpResponse};
use ordo_core::{Caller, DomainError, Permission, Result as DResult};
use ordo_crm::model::Address;
use ordo_db::{settings, DbConnection};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use validator::Validate;

use crate::extract::{json_response, Auth, IfMatch, ValidJson};
use crate::problem::Problem;

/// What the company is, as documents print it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyData {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub legal_name: String,
    #[serde(default)]
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub trade_name: Option<String>,
    #[serde(default)]
    #[validate(nested)]
    pub address: Option<Address>,
    /// VAT or tax registration number as printed (`PL5260001246`).
    #[serde(default)]
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub tax_id: Option<String>,
    /// The account customers pay to; checked (ISO 13616 mod-97).
    #[serde(default)]
    #[validate(custom(function = "valid_iban"))]
    #[schema(pattern = "^[A-Z]{2}[0-9]{2}[A-Za-z0-9 ]{10,40}$", example = "PL61109010140000071219812874")]
    pub iban: Option<String>,
    #[serde(default)]
    #[validate(length(min = 8, max = 11))]
    #[schema(min_length = 8, max_length = 11)]
    pub bic: Option<String>,
    #[serde(default)]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub bank_name: Option<String>,
    #[serde(default)]
    #[validate(email)]
    #[schema(format = Email)]
    pub email: Option<String>,
    #[serde(default)]
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub phone: Option<String>,
    #[serde(default)]
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub website: Option<String>,
    /// ISO 639-1 language of documents when the request names none.
    #[validate(length(equal = 2))]
    #[schema(pattern = "^[a-z]{2}$")]
    pub default_language: String,
    /// Electronic address for e-invoices (Peppol endpoint id), with its scheme.
    #[serde(default)]
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub endpoint_id: Option<String>,
    /// Peppol EAS code of `endpoint_id` (e.g. `9945` for a Polish VAT number, `0088` GLN).
    #[serde(default)]
    #[validate(length(equal = 4))]
    #[schema(pattern = "^[0-9]{4}$")]
    pub endpoint_scheme: Option<String>,
}

fn valid_iban(v: &str) -> Result<(), validator::ValidationError> {
    let s: String = v.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let shape = s.len() >= 15
        && s.len() <= 34
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s[..2].chars().all(|c| c.is_ascii_alphabetic())
        && s[2..4].chars().all(|c| c.is_ascii_digit());
    // Mod 97 of the rearranged number, digit by digit (letters count as 10..35).
    let rem = shape.then(|| {
        s[4..].chars().chain(s[..4].chars()).fold(0u32, |acc, c| {
            let d = c.to_digit(36).unwrap_or(0);
            if d >= 10 {
                (acc * 100 + d) % 97
            } else {
                (acc * 10 + d) % 97
            }
        })
    });
    if rem == Some(1) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("iban").with_message("not a valid IBAN (checksum)".into()))
    }
}

/// The company record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Company {
    #[serde(flatten)]
    pub data: CompanyData,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub fn load(conn: &mut DbConnection) -> DResult<Company> {
    let s = settings::load::<CompanyData>(conn, settings::COMPANY)?;
    Ok(Company { data: s.data, version: s.version, updated_at: s.updated_at })
}

fn update(conn: &mut DbConnection, caller: &Caller, if_match: Option<i64>, next: CompanyData) -> DResult<Company> {
    caller.require(Permission::SalesSetupWrite)?;
    if !next.default_language.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(DomainError::field("default_language", "invalid", "two lower-case letters (ISO 639-1)"));
    }
    if next.endpoint_id.is_some() != next.endpoint_scheme.is_some() {
        return Err(DomainError::field(
            "endpoint_scheme",
            "required",
            "an electronic address needs its scheme, and back",
        ));
    }
    let s = settings::save(conn, caller, settings::COMPANY, "company", if_match, next)?;
    Ok(Company { data: s.data, version: s.version, updated_at: s.updated_at })
}

/// The company as documents print it (any signed-in caller).
#[utoipa::path(tag = "documents", operation_id = "getCompany",
    responses((status = 200, description = "The company", body = Company, headers(("ETag" = String)))))]
#[get("/company")]
pub async fn get_company(auth: Auth) -> Result<HttpResponse, Problem> {
    let v = auth.read(|c, _| load(c)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

/// Replace the company's settings (the whole record, as `GET /company` answers it
/// without `version` and `updated_at`; sales set-up). The IBAN is checked; an
/// electronic address needs its scheme.
#[utoipa::path(tag = "documents", operation_id = "updateCompany", request_body = CompanyData,
    responses((status = 200, description = "Updated", body = Company, headers(("ETag" = String)))))]
#[put("/company")]
pub async fn update_company(
    auth: Auth,
    if_match: IfMatch,
    body: ValidJson<CompanyData>,
) -> Result<HttpResponse, Problem> {
    let p = body.0;
    let v = auth.write(move |c, caller| update(c, caller, if_match.0, p)).await?;
    Ok(json_response(StatusCode::OK, &v, Some(v.version)))
}

pub fn routes(cfg: &mut crate::routing::Routes) {
    cfg.service(get_company).service(update_company);
}

#[cfg(test)]
mod tests {
    #[test]
    fn iban_checksums() {
        assert!(super::valid_iban("PL61 1090 1014 0000 0712 1981 2874").is_ok());
        assert!(super::valid_iban("DE89370400440532013000").is_ok());
        assert!(super::valid_iban("DE89370400440532013001").is_err());
        assert!(super::valid_iban("XX").is_err());
    }
}
