DROP TABLE reservations;
DROP TABLE order_line_stock;
ALTER TABLE items DROP COLUMN allow_negative_stock;
DROP TABLE stock_ledger;
DROP TABLE stock_balances;
DROP TABLE warehouses;
