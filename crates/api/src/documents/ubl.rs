//! E-invoices: a posted invoice as a UBL 2.1 Invoice, a credit note as a UBL 2.1
//! CreditNote, following Peppol BIS Billing 3.0 (EN 16931). The amounts are the
//! document's own (no recomputation): lines, line discounts as line allowances,
//! shipping as a document-level charge, one VAT breakdown per (category, rate), and
//! the VAT total in the base currency when the document is in another one (BT-111).
//! What the format needs and the records lack (an electronic address, a country, a
//! VAT number for reverse charge) is named in a 422 instead of producing an
//! invoice a receiving access point would reject.

use std::fmt::Write as _;

use diesel::prelude::*;
use ordo_billing::invoices::{Invoice, InvoiceKind, InvoiceStatus};
use ordo_core::{DomainError, FieldError, Result as DResult};
use ordo_crm::model::{Address, Customer, TaxTreatment};
use ordo_db::schema::invoices;
use ordo_db::DbConnection;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::company::CompanyData;

const CUSTOMIZATION: &str = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0";
const PROFILE: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";

/// A small XML writer: elements in the order the caller writes them (UBL is an
/// ordered schema), text and attribute values escaped.
struct Xml(String);

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Xml {
    fn open(&mut self, tag: &str) -> &mut Self {
        let _ = write!(self.0, "<{tag}>");
        self
    }
    fn close(&mut self, tag: &str) -> &mut Self {
        let _ = write!(self.0, "</{tag}>");
        self
    }
    /// An element with text; none at all when the text is empty (Peppol forbids
    /// empty elements).
    fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        let text = text.trim();
        if !text.is_empty() {
            let _ = write!(self.0, "<{tag}>{}</{tag}>", esc(text));
        }
        self
    }
    fn leaf_attr(&mut self, tag: &str, attr: (&str, &str), text: &str) -> &mut Self {
        let _ = write!(self.0, "<{tag} {}=\"{}\">{}</{tag}>", attr.0, esc(attr.1), esc(text.trim()));
        self
    }
    fn amount(&mut self, tag: &str, currency: &str, v: Decimal, dp: u32) -> &mut Self {
        self.leaf_attr(tag, ("currencyID", currency), &fixed(v, dp))
    }
}

/// A decimal with exactly `dp` places (`20` → `20.00`).
fn fixed(v: Decimal, dp: u32) -> String {
    let mut d = v.round_dp(dp);
    d.rescale(dp);
    d.to_string()
}

/// UN/ECE Recommendation 20 code of a unit as Ordo's catalog names them; `C62`
/// ("one") for anything else.
fn unit_code(unit: &str) -> &'static str {
    match unit.to_ascii_lowercase().as_str() {
        "pcs" | "pc" | "piece" | "pieces" | "szt" | "ea" | "each" => "H87",
        "kg" => "KGM",
        "g" => "GRM",
        "t" => "TNE",
        "m" => "MTR",
        "m2" => "MTK",
        "m3" => "MTQ",
        "l" => "LTR",
        "h" | "hr" | "hour" | "hours" => "HUR",
        "day" | "days" | "d" => "DAY",
        "month" | "months" => "MON",
        "box" => "BX",
        "pack" | "pk" => "PK",
        "set" => "SET",
        "pallet" => "PF",
        _ => "C62",
    }
}

/// A VAT number with its ISO 3166 country prefix (BR-CO-09), added from the
/// address when the stored number is bare digits.
fn vat_id(id: &str, country: &str) -> String {
    let id: String = id.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if id.chars().take(2).all(|c| c.is_ascii_alphabetic()) && id.len() > 2 {
        id.to_ascii_uppercase()
    } else {
        format!("{country}{id}")
    }
}

/// The VAT category of a breakdown or line (UNCL 5305) and the exemption reason it needs.
fn category(treatment: TaxTreatment, percent: Decimal) -> (&'static str, Option<&'static str>) {
    match treatment {
        TaxTreatment::ReverseCharge => ("AE", Some("Reverse charge")),
        TaxTreatment::Exempt => ("E", Some("Exempt from VAT")),
        TaxTreatment::Standard if percent.is_zero() => ("Z", None),
        TaxTreatment::Standard => ("S", None),
    }
}

/// A rate as UBL writes it (`23`, `5.5`).
fn percent(p: Decimal) -> String {
    p.normalize().to_string()
}

struct Party<'a> {
    name: &'a str,
    endpoint: (&'a str, &'a str),
    address: &'a Address,
    vat: Option<String>,
}

fn party(x: &mut Xml, tag: &str, p: &Party) {
    x.open(tag).open("cac:Party");
    x.leaf_attr("cbc:EndpointID", ("schemeID", p.endpoint.1), p.endpoint.0);
    x.open("cac:PostalAddress")
        .leaf("cbc:StreetName", &p.address.line1)
        .leaf("cbc:AdditionalStreetName", p.address.line2.as_deref().unwrap_or(""))
        .leaf("cbc:CityName", &p.address.city)
        .leaf("cbc:PostalZone", p.address.postal_code.as_deref().unwrap_or(""))
        .leaf("cbc:CountrySubentity", p.address.region.as_deref().unwrap_or(""))
        .open("cac:Country")
        .leaf("cbc:IdentificationCode", &p.address.country.to_ascii_uppercase())
        .close("cac:Country")
        .close("cac:PostalAddress");
    if let Some(vat) = &p.vat {
        x.open("cac:PartyTaxScheme")
            .leaf("cbc:CompanyID", vat)
            .open("cac:TaxScheme")
            .leaf("cbc:ID", "VAT")
            .close("cac:TaxScheme")
            .close("cac:PartyTaxScheme");
    }
    x.open("cac:PartyLegalEntity").leaf("cbc:RegistrationName", p.name).close("cac:PartyLegalEntity");
    x.close("cac:Party").close(tag);
}

fn tax_category(x: &mut Xml, tag: &str, cat: &str, pct: Decimal, reason: Option<&str>) {
    x.open(tag).leaf("cbc:ID", cat).leaf("cbc:Percent", &percent(pct));
    if let Some(r) = reason {
        x.leaf("cbc:TaxExemptionReason", r);
    }
    x.open("cac:TaxScheme").leaf("cbc:ID", "VAT").close("cac:TaxScheme").close(tag);
}

/// What the e-invoice needs and the records lack, as field errors.
fn missing(company: &CompanyData, customer: &Customer, doc: &Invoice) -> Vec<FieldError> {
    let mut out = vec![];
    let mut need = |field: &str, what: &str| out.push(FieldError::new(field, "required", what));
    if doc.status == InvoiceStatus::Draft {
        need("status", "a draft has no legal number yet: post it first");
    }
    if company.endpoint_id.is_none() {
        need("company.endpoint_id", "the company's electronic address (PUT /company)");
    }
    if company.address.is_none() {
        need("company.address", "the company's postal address with its country (PUT /company)");
    }
    if company.tax_id.is_none() {
        need("company.tax_id", "the company's VAT number (PUT /company)");
    }
    if customer.endpoint_id.is_none() {
        need("customer.endpoint_id", "the customer's electronic address (PATCH /customers/{id})");
    }
    if customer.billing_address.is_none() {
        need("customer.billing_address", "the customer's billing address with its country");
    }
    if customer.tax_treatment == TaxTreatment::ReverseCharge && customer.tax_id.is_none() {
        need("customer.tax_id", "reverse charge needs the customer's VAT number (BR-AE-02)");
    }
    out
}

/// The UBL 2.1 XML of a posted invoice or credit note (the caller checked the scope).
pub fn render(conn: &mut DbConnection, doc: &Invoice, customer: &Customer, company: &CompanyData) -> DResult<String> {
    let gaps = missing(company, customer, doc);
    if !gaps.is_empty() {
        return Err(DomainError::Rule {
            code: "e_invoice_incomplete",
            detail: "a Peppol e-invoice needs data the records lack; see errors".into(),
            errors: gaps,
        });
    }
    let (Some(caddr), Some(baddr), Some(cep), Some(bep)) = (
        company.address.as_ref(),
        customer.billing_address.as_ref(),
        company.endpoint_id.as_deref().zip(company.endpoint_scheme.as_deref()),
        customer.endpoint_id.as_deref().zip(customer.endpoint_scheme.as_deref()),
    ) else {
        return Err(DomainError::Internal("e-invoice data checked above".into()));
    };
    let credit = doc.kind == InvoiceKind::CreditNote;
    let (root, line_tag, qty_tag) = if credit {
        ("CreditNote", "cac:CreditNoteLine", "cbc:CreditedQuantity")
    } else {
        ("Invoice", "cac:InvoiceLine", "cbc:InvoicedQuantity")
    };
    let cur = doc.currency.code();
    let dp = u32::from(doc.currency.minor_units());
    let base = doc.totals.base_currency.code();
    let treatment = customer.tax_treatment;
    let lines = doc.lines.as_deref().unwrap_or_default();

    let mut x = Xml(String::with_capacity(8192));
    x.0.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        x.0,
        "<{root} xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:{root}-2\" \
         xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\" \
         xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">"
    );
    x.leaf("cbc:CustomizationID", CUSTOMIZATION).leaf("cbc:ProfileID", PROFILE).leaf("cbc:ID", &doc.number);
    x.leaf("cbc:IssueDate", &doc.date.to_string());
    if credit {
        x.leaf("cbc:CreditNoteTypeCode", "381");
    } else {
        if let Some(due) = doc.due_date {
            x.leaf("cbc:DueDate", &due.to_string());
        }
        x.leaf("cbc:InvoiceTypeCode", "380");
    }
    // One note only (PEPPOL-EN16931-R002): the credit reason, then the notes.
    let note = [doc.reason.as_deref(), doc.notes.as_deref()].into_iter().flatten().collect::<Vec<_>>().join("\n");
    x.leaf("cbc:Note", &note);
    x.leaf("cbc:DocumentCurrencyCode", cur);
    if cur != base {
        x.leaf("cbc:TaxCurrencyCode", base);
    }
    // A buyer reference or an order reference is required (PEPPOL-EN16931-R003).
    x.leaf("cbc:BuyerReference", doc.customer_po.as_deref().unwrap_or(&customer.number));
    if let Some(po) = doc.customer_po.as_deref().filter(|p| !p.trim().is_empty()) {
        x.open("cac:OrderReference").leaf("cbc:ID", po).close("cac:OrderReference");
    }
    if let Some(credited) = doc.credited_invoice_id {
        let (number, date): (String, time::Date) =
            invoices::table.find(credited).select((invoices::number, invoices::doc_date)).first(conn)?;
        x.open("cac:BillingReference")
            .open("cac:InvoiceDocumentReference")
            .leaf("cbc:ID", &number)
            .leaf("cbc:IssueDate", &date.to_string())
            .close("cac:InvoiceDocumentReference")
            .close("cac:BillingReference");
    }
    let seller_country = caddr.country.to_ascii_uppercase();
    let buyer_country = baddr.country.to_ascii_uppercase();
    party(
        &mut x,
        "cac:AccountingSupplierParty",
        &Party {
            name: &company.legal_name,
            endpoint: cep,
            address: caddr,
            vat: company.tax_id.as_deref().map(|t| vat_id(t, &seller_country)),
        },
    );
    party(
        &mut x,
        "cac:AccountingCustomerParty",
        &Party {
            name: customer.legal_name.as_deref().unwrap_or(&customer.name),
            endpoint: bep,
            address: baddr,
            vat: customer.tax_id.as_deref().map(|t| vat_id(t, &buyer_country)),
        },
    );
    if !credit {
        if let Some(iban) = company.iban.as_deref() {
            let iban: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
            x.open("cac:PaymentMeans")
                .leaf("cbc:PaymentMeansCode", "30")
                .leaf("cbc:PaymentID", &doc.number)
                .open("cac:PayeeFinancialAccount")
                .leaf("cbc:ID", &iban)
                .leaf("cbc:Name", company.bank_name.as_deref().unwrap_or(""));
            if let Some(bic) = company.bic.as_deref() {
                x.open("cac:FinancialInstitutionBranch").leaf("cbc:ID", bic).close("cac:FinancialInstitutionBranch");
            }
            x.close("cac:PayeeFinancialAccount").close("cac:PaymentMeans");
        }
        x.open("cac:PaymentTerms")
            .leaf("cbc:Note", &format!("{} days net", doc.payment_terms_days))
            .close("cac:PaymentTerms");
    }
    // Shipping: a document-level charge in the breakdown whose net exceeds its lines'.
    let line_net = |id: Option<i64>, pct: Decimal| -> Decimal {
        lines.iter().filter(|l| l.tax_rate_id == id && l.tax_percent.value() == pct).map(|l| l.net.value()).sum()
    };
    let shipping = doc.totals.shipping.value();
    for t in &doc.totals.taxes {
        let charge = t.net.value() - line_net(t.tax_rate_id, t.percent.value());
        if !charge.is_zero() {
            let (cat, reason) = category(treatment, t.percent.value());
            x.open("cac:AllowanceCharge")
                .leaf("cbc:ChargeIndicator", if charge > Decimal::ZERO { "true" } else { "false" })
                .leaf("cbc:AllowanceChargeReason", "Shipping")
                .amount("cbc:Amount", cur, charge.abs(), dp);
            tax_category(&mut x, "cac:TaxCategory", cat, t.percent.value(), reason);
            x.close("cac:AllowanceCharge");
        }
    }
    x.open("cac:TaxTotal").amount("cbc:TaxAmount", cur, doc.totals.tax.value(), dp);
    for t in &doc.totals.taxes {
        let (cat, reason) = category(treatment, t.percent.value());
        x.open("cac:TaxSubtotal").amount("cbc:TaxableAmount", cur, t.net.value(), dp).amount(
            "cbc:TaxAmount",
            cur,
            t.tax.value(),
            dp,
        );
        tax_category(&mut x, "cac:TaxCategory", cat, t.percent.value(), reason);
        x.close("cac:TaxSubtotal");
    }
    x.close("cac:TaxTotal");
    if cur != base {
        let bdp = u32::from(doc.totals.base_currency.minor_units());
        x.open("cac:TaxTotal").amount("cbc:TaxAmount", base, doc.totals.base_tax.value(), bdp).close("cac:TaxTotal");
    }
    let lines_net: Decimal = lines.iter().map(|l| l.net.value()).sum();
    x.open("cac:LegalMonetaryTotal")
        .amount("cbc:LineExtensionAmount", cur, lines_net, dp)
        .amount("cbc:TaxExclusiveAmount", cur, doc.totals.net.value(), dp)
        .amount("cbc:TaxInclusiveAmount", cur, doc.totals.gross.value(), dp);
    if !shipping.is_zero() {
        x.amount("cbc:ChargeTotalAmount", cur, shipping, dp);
    }
    x.amount("cbc:PayableAmount", cur, doc.totals.gross.value(), dp).close("cac:LegalMonetaryTotal");

    for l in lines {
        let qty = l.input.quantity.value();
        let (cat, _) = category(treatment, l.tax_percent.value());
        let unit = l.input.unit.as_deref().or(l.item.as_ref().map(|i| i.base_unit.as_str())).unwrap_or("");
        // The price that, times the quantity less the discount, gives the line net
        // (PEPPOL-EN16931-R120): the list price when it does, else the net price.
        let discount = l.discount.value();
        let listed = (qty * l.unit_price.value() - discount)
            .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
            == l.net.value();
        let (price, allowance) = if listed || qty.is_zero() {
            (l.unit_price.value(), discount)
        } else {
            ((l.net.value() / qty).round_dp(6), Decimal::ZERO)
        };
        x.open(line_tag).leaf("cbc:ID", &l.position.to_string());
        x.leaf_attr(qty_tag, ("unitCode", unit_code(unit)), &qty.normalize().to_string());
        x.amount("cbc:LineExtensionAmount", cur, l.net.value(), dp);
        if !allowance.is_zero() {
            x.open("cac:AllowanceCharge")
                .leaf("cbc:ChargeIndicator", "false")
                .leaf("cbc:AllowanceChargeReasonCode", "95")
                .leaf("cbc:AllowanceChargeReason", "Discount")
                .amount("cbc:Amount", cur, allowance, dp)
                .close("cac:AllowanceCharge");
        }
        let name = l.item.as_ref().map(|i| i.name.as_str()).unwrap_or("");
        let description = l.input.description.as_deref().unwrap_or(name);
        x.open("cac:Item");
        if description != name {
            x.leaf("cbc:Description", description);
        }
        x.leaf("cbc:Name", if name.is_empty() { description } else { name });
        if let Some(item) = &l.item {
            x.open("cac:SellersItemIdentification").leaf("cbc:ID", &item.sku).close("cac:SellersItemIdentification");
        }
        tax_category(&mut x, "cac:ClassifiedTaxCategory", cat, l.tax_percent.value(), None);
        x.close("cac:Item");
        x.open("cac:Price").leaf_attr("cbc:PriceAmount", ("currencyID", cur), &price.normalize().to_string());
        x.close("cac:Price").close(line_tag);
    }
    let _ = write!(x.0, "</{root}>");
    Ok(x.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped_and_vat_numbers_get_their_country() {
        assert_eq!(esc("A&B <c> \"d\"\u{1}"), "A&amp;B &lt;c&gt; &quot;d&quot; ");
        assert_eq!(vat_id("526-000-12-46", "PL"), "PL5260001246");
        assert_eq!(vat_id("de 123456789", "DE"), "DE123456789");
        assert_eq!(fixed(Decimal::new(20, 0), 2), "20.00");
        assert_eq!(unit_code("PCS"), "H87");
        assert_eq!(unit_code("furlong"), "C62");
    }
}
