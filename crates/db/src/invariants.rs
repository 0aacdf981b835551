//! What must hold in the books at any commit, whatever was interrupted: stock equals
//! its ledger and covers its reservations, documents equal their lines and never
//! stand without them, money allocated never exceeds money received. Read by the
//! soak harness after every crash and by the bench after its order-to-cash mix
//! (issue 17); each check counts the rows that break it, so all must be 0.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use ordo_core::Result;

use crate::DbConnection;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The checks, as (name, SQL counting the rows that break it); documents of one
/// customer when `customer` is given.
pub fn checks(customer: Option<i64>) -> Vec<(&'static str, String)> {
    let of = |alias: &str| customer.map_or("1 = 1".to_string(), |c| format!("{alias}.customer_id = {c}"));
    let (o, i, p, d) = (of("o"), of("i"), of("p"), of("d"));
    vec![
        (
            "stock_on_hand_differs_from_ledger",
            "SELECT COUNT(*) AS n FROM stock_balances b WHERE b.on_hand <> (SELECT COALESCE(SUM(l.quantity), 0) \
             FROM stock_ledger l WHERE l.item_id = b.item_id AND l.warehouse_id = b.warehouse_id)"
                .to_string(),
        ),
        (
            "stock_reserved_differs_from_reservations",
            "SELECT COUNT(*) AS n FROM stock_balances b WHERE b.reserved <> (SELECT COALESCE(SUM(r.quantity), 0) \
             FROM reservations r WHERE r.status = 'active' AND r.item_id = b.item_id AND r.warehouse_id = b.warehouse_id)"
                .to_string(),
        ),
        ("stock_reserved_beyond_on_hand", "SELECT COUNT(*) AS n FROM stock_balances b WHERE b.reserved > b.on_hand".into()),
        (
            "reservation_without_its_order_line",
            "SELECT COUNT(*) AS n FROM reservations r WHERE r.status = 'active' AND r.order_line_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM document_lines l WHERE l.id = r.order_line_id)"
                .into(),
        ),
        (
            "open_lines_reserved_plus_backordered_not_ordered_minus_delivered",
            format!(
                "SELECT COUNT(*) AS n FROM order_line_stock s JOIN sales_orders o ON o.id = s.sales_order_id \
                 WHERE {o} AND o.status = 'in_execution' AND s.reserved + s.backordered <> s.ordered - s.delivered"
            ),
        ),
        (
            "order_without_lines",
            format!(
                "SELECT COUNT(*) AS n FROM sales_orders o WHERE {o} AND NOT EXISTS \
                 (SELECT 1 FROM document_lines l WHERE l.doc_kind = 'sales_order' AND l.doc_id = o.id)"
            ),
        ),
        (
            "order_net_differs_from_lines",
            format!(
                "SELECT COUNT(*) AS n FROM sales_orders o WHERE {o} AND o.net <> \
                 (SELECT COALESCE(SUM(l.net), 0) FROM document_lines l WHERE l.doc_kind = 'sales_order' AND l.doc_id = o.id)"
            ),
        ),
        (
            "delivery_without_lines",
            format!(
                "SELECT COUNT(*) AS n FROM deliveries d WHERE {d} AND NOT EXISTS \
                 (SELECT 1 FROM delivery_lines l WHERE l.delivery_id = d.id)"
            ),
        ),
        (
            "invoice_without_lines",
            format!(
                "SELECT COUNT(*) AS n FROM invoices i WHERE {i} AND i.kind = 'invoice' AND NOT EXISTS \
                 (SELECT 1 FROM document_lines l WHERE l.doc_kind = 'invoice' AND l.doc_id = i.id)"
            ),
        ),
        (
            "invoice_net_differs_from_lines",
            format!(
                "SELECT COUNT(*) AS n FROM invoices i WHERE {i} AND i.kind = 'invoice' AND i.net <> \
                 (SELECT COALESCE(SUM(l.net), 0) FROM document_lines l WHERE l.doc_kind = 'invoice' AND l.doc_id = i.id)"
            ),
        ),
        (
            "invoice_settled_differs_from_allocations",
            format!(
                "SELECT COUNT(*) AS n FROM invoices i WHERE {i} AND i.kind = 'invoice' \
                 AND i.settled <> (SELECT COALESCE(SUM(a.amount), 0) FROM allocations a \
                 WHERE a.invoice_id = i.id AND a.reversed_at IS NULL)"
            ),
        ),
        (
            "payment_allocated_more_than_received",
            format!(
                "SELECT COUNT(*) AS n FROM payments p WHERE {p} AND p.amount < \
                 (SELECT COALESCE(SUM(a.source_amount), 0) FROM allocations a WHERE a.payment_id = p.id AND a.reversed_at IS NULL)"
            ),
        ),
    ]
}

/// Every check with the number of rows breaking it.
pub fn violations(conn: &mut DbConnection, customer: Option<i64>) -> Result<Vec<(&'static str, i64)>> {
    checks(customer)
        .into_iter()
        .map(|(name, sql)| Ok((name, diesel::sql_query(sql).get_result::<Count>(conn)?.n)))
        .collect()
}
