-- Fulfillment, first part: warehouses, the stock ledger with its balances, item stock
-- settings, and reservations of order lines. Quantities are BIGINT scaled by 10^4.

CREATE TABLE warehouses (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    quarantine BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- On hand and reserved per item and warehouse, changed in the same transaction as the
-- ledger entry and only by conditional updates (never read-then-write).
CREATE TABLE stock_balances (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items(id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    UNIQUE (item_id, warehouse_id)
);
CREATE INDEX stock_balances_warehouse ON stock_balances (warehouse_id);

CREATE TABLE stock_ledger (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items(id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
    kind TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_cost BIGINT,
    doc_kind TEXT,
    doc_id BIGINT,
    reason TEXT,
    actor TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX stock_ledger_item ON stock_ledger (item_id, warehouse_id, id);
CREATE INDEX stock_ledger_doc ON stock_ledger (doc_kind, doc_id);

ALTER TABLE items ADD COLUMN allow_negative_stock BOOLEAN NOT NULL DEFAULT FALSE;

-- The stock side of a confirmed order line: what it needs, holds and has received.
CREATE TABLE order_line_stock (
    id BIGSERIAL PRIMARY KEY,
    line_id BIGINT NOT NULL UNIQUE REFERENCES document_lines(id),
    sales_order_id BIGINT NOT NULL REFERENCES sales_orders(id),
    item_id BIGINT NOT NULL REFERENCES items(id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
    requested_date DATE NOT NULL,
    ordered BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    backordered BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    returned BIGINT NOT NULL,
    promised_date DATE,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX order_line_stock_order ON order_line_stock (sales_order_id);
CREATE INDEX order_line_stock_backorders ON order_line_stock (item_id, warehouse_id, backordered, requested_date);

-- Reservations by hand (and the history of automatic ones): who holds what.
CREATE TABLE reservations (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items(id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
    quantity BIGINT NOT NULL,
    order_line_id BIGINT REFERENCES document_lines(id),
    sales_order_id BIGINT REFERENCES sales_orders(id),
    customer_id BIGINT REFERENCES customers(id),
    note TEXT,
    status TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX reservations_item ON reservations (item_id, warehouse_id, status);
CREATE INDEX reservations_order ON reservations (sales_order_id);
