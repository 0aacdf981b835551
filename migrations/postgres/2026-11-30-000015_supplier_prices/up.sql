-- Suppliers and their purchase prices; a sales price list may derive from a
-- supplier's prices plus a markup (cost-plus).
CREATE TABLE suppliers (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE supplier_prices (
    id BIGSERIAL PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers(id),
    item_id BIGINT NOT NULL REFERENCES items(id),
    unit TEXT NOT NULL,
    currency TEXT NOT NULL,
    price BIGINT NOT NULL,
    min_quantity BIGINT NOT NULL,
    valid_from DATE,
    valid_to DATE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX supplier_prices_supplier_item ON supplier_prices (supplier_id, item_id);
CREATE INDEX supplier_prices_item ON supplier_prices (item_id);

ALTER TABLE price_lists ADD COLUMN base_supplier_id BIGINT REFERENCES suppliers(id);
