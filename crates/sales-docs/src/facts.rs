//! Sales facts: the summary rows the sales report and target attainment read. Each
//! line of a confirmed order, and of a posted invoice or credit note, becomes one row
//! with its dimensions and its amounts in the base currency, written in the same
//! transaction as the confirmation or posting (so a report is never staler than the
//! documents) and removed when the order is cancelled. Two statements per document,
//! whatever its number of lines.

use diesel::prelude::*;
use ordo_core::Result;
use ordo_db::schema::{customers, delivery_lines, items, sales_facts};
use ordo_db::DbConnection;
use ordo_pricing::engine::round_to;
use rust_decimal::Decimal;
use time::Date;

use crate::lines::LineRow;

pub const ORDER: &str = "order";
pub const INVOICE: &str = "invoice";

/// The header of the document the lines belong to.
#[derive(Debug, Clone)]
pub struct Header {
    pub basis: &'static str,
    pub doc_id: i64,
    pub date: Date,
    pub customer_id: i64,
    pub territory_id: Option<i64>,
    pub sales_person_id: Option<i64>,
    pub sales_partner_id: Option<i64>,
    pub campaign_id: Option<i64>,
    /// Net in the document currency and in the base currency: the lines' base
    /// amounts are their share of it.
    pub net: i64,
    pub base_net: i64,
    /// −1 for a credit note.
    pub sign: i64,
    /// The customer's group when the caller has read it already (saves a statement).
    pub customer_group: Option<Option<i64>>,
    /// The lines' items as (id, item group, standard cost) when the caller has read
    /// them already.
    pub items: Option<Vec<(i64, Option<i64>, i64)>>,
}

#[derive(Insertable)]
#[diesel(table_name = sales_facts, treat_none_as_default_value = false)]
struct NewFact {
    basis: &'static str,
    doc_id: i64,
    line_id: i64,
    doc_date: Date,
    month: i32,
    customer_id: i64,
    customer_group_id: Option<i64>,
    territory_id: Option<i64>,
    sales_person_id: Option<i64>,
    sales_partner_id: Option<i64>,
    campaign_id: Option<i64>,
    item_id: i64,
    item_group_id: Option<i64>,
    quantity: i64,
    net_base: i64,
    cost_base: i64,
    doc_first: i32,
    group_first: i32,
    item_first: i32,
}

/// yyyymm of a date.
pub fn month_of(d: Date) -> i32 {
    d.year() * 100 + i32::from(u8::from(d.month()))
}

/// Scaled (×10⁴) amount × scaled quantity, back at scale 4, half away from zero.
fn times(amount: i64, quantity: i64) -> i64 {
    let v = Decimal::from(amount) * Decimal::from(quantity) / Decimal::from(10_000);
    round_to(v, 0).try_into().unwrap_or(0)
}

/// Writes the facts of a document's lines. The base amounts are the lines' shares of
/// the header's base net, the last line taking the rounding rest, so they add up to
/// it exactly. Cost: what the delivery that shipped the line booked out of the stock
/// ledger, else the item's standard cost.
pub fn record(conn: &mut DbConnection, h: &Header, lines: &[LineRow]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let group: Option<i64> = match h.customer_group {
        Some(g) => g,
        None => customers::table.find(h.customer_id).select(customers::customer_group_id).first(conn)?,
    };
    let item_ids: Vec<i64> = lines.iter().map(|l| l.item_id).collect();
    let dl_ids: Vec<i64> = lines.iter().filter_map(|l| l.delivery_line_id).collect();
    let loaded: Vec<(i64, Option<i64>, i64)>;
    let item_rows: &[(i64, Option<i64>, i64)] = match &h.items {
        Some(rows) => rows,
        None => {
            loaded = items::table
                .filter(items::id.eq_any(&item_ids))
                .select((items::id, items::item_group_id, items::standard_cost))
                .load(conn)?;
            &loaded
        }
    };
    let costs: Vec<(i64, Option<i64>)> = if dl_ids.is_empty() {
        vec![]
    } else {
        delivery_lines::table
            .filter(delivery_lines::id.eq_any(&dl_ids))
            .select((delivery_lines::id, delivery_lines::unit_cost))
            .load(conn)?
    };
    let lines_net: i64 = lines.iter().map(|l| l.net).sum();
    let mut left = if lines_net == h.net { h.base_net } else { base_share(lines_net, h) };
    let mut rows = Vec::with_capacity(lines.len());
    // Which (item group) and (item) of the document have been seen: the first line of
    // each carries the marker the report sums to count documents (see `analytics::run`).
    let mut seen_groups: Vec<Option<i64>> = vec![];
    let mut seen_items: Vec<i64> = vec![];
    for (n, l) in lines.iter().enumerate() {
        let base = if n + 1 == lines.len() { left } else { base_share(l.net, h) };
        left -= base;
        let (group_id, standard) = item_rows.iter().find(|i| i.0 == l.item_id).map_or((None, 0), |i| (i.1, i.2));
        let unit_cost =
            l.delivery_line_id.and_then(|d| costs.iter().find(|c| c.0 == d)).and_then(|c| c.1).unwrap_or(standard);
        let group_first = !seen_groups.contains(&group_id);
        if group_first {
            seen_groups.push(group_id);
        }
        let item_first = !seen_items.contains(&l.item_id);
        if item_first {
            seen_items.push(l.item_id);
        }
        rows.push(NewFact {
            basis: h.basis,
            doc_id: h.doc_id,
            line_id: l.id,
            doc_date: h.date,
            month: month_of(h.date),
            customer_id: h.customer_id,
            customer_group_id: group,
            territory_id: h.territory_id,
            sales_person_id: h.sales_person_id,
            sales_partner_id: h.sales_partner_id,
            campaign_id: h.campaign_id,
            item_id: l.item_id,
            item_group_id: group_id,
            quantity: h.sign * l.base_quantity,
            net_base: h.sign * base,
            cost_base: h.sign * times(unit_cost, l.base_quantity),
            doc_first: i32::from(n == 0),
            group_first: i32::from(group_first),
            item_first: i32::from(item_first),
        });
    }
    ordo_db::insert_batch!(conn, sales_facts::table, &rows);
    Ok(())
}

/// A document-currency amount's share of the header's base net.
fn base_share(net: i64, h: &Header) -> i64 {
    if h.net == 0 {
        return 0;
    }
    let v = Decimal::from(net) * Decimal::from(h.base_net) / Decimal::from(h.net);
    round_to(v, 0).try_into().unwrap_or(0)
}

/// Removes a document's facts (a cancelled order no longer counts).
pub fn remove(conn: &mut DbConnection, basis: &str, doc_id: i64) -> Result<()> {
    diesel::delete(sales_facts::table.filter(sales_facts::basis.eq(basis)).filter(sales_facts::doc_id.eq(doc_id)))
        .execute(conn)?;
    Ok(())
}

/// Writes the facts of every confirmed order and posted invoice or credit note when
/// there are none yet: for databases that had documents before the facts existed.
/// Runs once (an empty table is the signal), serialised between processes by the
/// company settings row lock on PostgreSQL; 500 documents per batch.
pub fn backfill(conn: &mut DbConnection) -> Result<usize> {
    use crate::lines::DocKind;
    use crate::orders::{OrderRow, OrderStatus};
    use ordo_db::schema::{document_lines, invoices, sales_orders};
    ordo_db::lock::rows(conn, "company_settings", &[1])?;
    if sales_facts::table.select(sales_facts::line_id).first::<i64>(conn).optional()?.is_some() {
        return Ok(0);
    }
    let mut done = 0;
    let mut after = 0;
    loop {
        let orders: Vec<OrderRow> = sales_orders::table
            .filter(sales_orders::id.gt(after))
            .filter(sales_orders::status.eq_any([
                OrderStatus::InExecution.as_str(),
                OrderStatus::Completed.as_str(),
                OrderStatus::Archived.as_str(),
            ]))
            .order(sales_orders::id.asc())
            .limit(500)
            .select(OrderRow::as_select())
            .load(conn)?;
        let Some(last) = orders.last() else { break };
        after = last.id;
        let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
        let lines: Vec<LineRow> = document_lines::table
            .filter(document_lines::doc_kind.eq(DocKind::SalesOrder.as_str()))
            .filter(document_lines::doc_id.eq_any(&ids))
            .order((document_lines::doc_id.asc(), document_lines::position.asc()))
            .select(LineRow::as_select())
            .load(conn)?;
        for o in &orders {
            // An archived order counts if it was ever confirmed.
            if o.status == OrderStatus::Archived.as_str() && o.approval()?.confirmed_at.is_none() {
                continue;
            }
            let ls: Vec<LineRow> = lines.iter().filter(|l| l.doc_id == o.id).cloned().collect();
            record(conn, &crate::orders::order_facts(o), &ls)?;
            done += 1;
        }
    }
    type Head = (i64, String, Date, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>, i64, i64);
    let mut after = 0;
    loop {
        let heads: Vec<Head> = invoices::table
            .filter(invoices::id.gt(after))
            .filter(invoices::posted_at.is_not_null())
            .order(invoices::id.asc())
            .limit(500)
            .select((
                invoices::id,
                invoices::kind,
                invoices::doc_date,
                invoices::customer_id,
                invoices::territory_id,
                invoices::sales_person_id,
                invoices::sales_partner_id,
                invoices::campaign_id,
                invoices::net,
                invoices::base_net,
            ))
            .load(conn)?;
        let Some(last) = heads.last() else { break };
        after = last.0;
        let ids: Vec<i64> = heads.iter().map(|h| h.0).collect();
        let lines: Vec<LineRow> = document_lines::table
            .filter(document_lines::doc_kind.eq_any([DocKind::Invoice.as_str(), DocKind::CreditNote.as_str()]))
            .filter(document_lines::doc_id.eq_any(&ids))
            .order((document_lines::doc_id.asc(), document_lines::position.asc()))
            .select(LineRow::as_select())
            .load(conn)?;
        for h in &heads {
            let credit = h.1 == "credit_note";
            let kind = if credit { DocKind::CreditNote } else { DocKind::Invoice };
            let ls: Vec<LineRow> =
                lines.iter().filter(|l| l.doc_id == h.0 && l.doc_kind == kind.as_str()).cloned().collect();
            let header = Header {
                basis: INVOICE,
                doc_id: h.0,
                date: h.2,
                customer_id: h.3,
                territory_id: h.4,
                sales_person_id: h.5,
                sales_partner_id: h.6,
                campaign_id: h.7,
                net: h.8,
                base_net: h.9,
                sign: if credit { -1 } else { 1 },
                customer_group: None,
                items: None,
            };
            record(conn, &header, &ls)?;
            done += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_and_costs_round_half_away_from_zero() {
        let h = super::Header {
            basis: super::ORDER,
            doc_id: 1,
            date: time::macros::date!(2026 - 12 - 01),
            customer_id: 1,
            territory_id: None,
            sales_person_id: None,
            sales_partner_id: None,
            campaign_id: None,
            net: 30_000,
            base_net: 10_001,
            sign: 1,
            customer_group: None,
            items: None,
        };
        assert_eq!(super::base_share(10_000, &h), 3_334);
        assert_eq!(super::times(12_500, 30_000), 37_500, "1.25 × 3");
        assert_eq!(super::month_of(h.date), 202612);
    }
}
