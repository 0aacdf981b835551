-- Incoming stock announced by purchasing or planning systems.
CREATE TABLE expected_receipts (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items(id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
    quantity BIGINT NOT NULL,
    expected_date DATE NOT NULL,
    source TEXT NOT NULL,
    reference TEXT,
    status TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX expected_receipts_item ON expected_receipts (item_id, warehouse_id, status, expected_date);
