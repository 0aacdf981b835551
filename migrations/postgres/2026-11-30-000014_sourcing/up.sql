-- Sourcing warehouses: a customer's default, an order's, and a line's own. Confirming
-- reserves a line in the first of line → order → customer → company default.
ALTER TABLE customers ADD COLUMN default_warehouse_id BIGINT REFERENCES warehouses(id);
ALTER TABLE sales_orders ADD COLUMN warehouse_id BIGINT REFERENCES warehouses(id);
ALTER TABLE document_lines ADD COLUMN warehouse_id BIGINT REFERENCES warehouses(id);
-- A line's stock is held per warehouse: its reservations there, and what open
-- deliveries from there carry.
CREATE INDEX reservations_line_warehouse ON reservations (order_line_id, warehouse_id, status);
DROP INDEX reservations_line;
CREATE INDEX deliveries_order_status ON deliveries (sales_order_id, status);
