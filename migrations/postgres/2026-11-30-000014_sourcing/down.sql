DROP INDEX deliveries_order_status;
CREATE INDEX reservations_line ON reservations (order_line_id, status);
DROP INDEX reservations_line_warehouse;
ALTER TABLE document_lines DROP COLUMN warehouse_id;
ALTER TABLE sales_orders DROP COLUMN warehouse_id;
ALTER TABLE customers DROP COLUMN default_warehouse_id;
