-- Sorted lists page by (key, id): each sort a screen uses has its index, so a page
-- is an index range scan, never a sort of the whole table.
CREATE INDEX sales_orders_doc_date ON sales_orders (doc_date, id);
CREATE INDEX sales_orders_gross ON sales_orders (gross, id);
CREATE INDEX sales_orders_updated ON sales_orders (updated_at, id);
CREATE INDEX quotations_doc_date ON quotations (doc_date, id);
CREATE INDEX quotations_gross ON quotations (gross, id);
CREATE INDEX quotations_updated ON quotations (updated_at, id);
CREATE INDEX blanket_orders_valid_from ON blanket_orders (valid_from, id);
CREATE INDEX blanket_orders_updated ON blanket_orders (updated_at, id);
CREATE INDEX deliveries_updated ON deliveries (updated_at, id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);
CREATE INDEX returns_updated ON returns (updated_at, id);
CREATE INDEX customers_name ON customers (name, id);
CREATE INDEX items_name ON items (name, id);
CREATE INDEX leads_updated ON leads (updated_at, id);
CREATE INDEX opportunities_updated ON opportunities (updated_at, id);
