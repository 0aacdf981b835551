ALTER TABLE price_lists DROP COLUMN base_supplier_id;
DROP TABLE supplier_prices;
DROP TABLE suppliers;
