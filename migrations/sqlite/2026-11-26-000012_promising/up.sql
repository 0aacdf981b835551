-- Order promising: replenishment parameters, the working-day calendar, promised dates.
CREATE TABLE replenishment_parameters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id BIGINT NOT NULL REFERENCES items(id),
    warehouse_id BIGINT REFERENCES warehouses(id),
    method TEXT NOT NULL,
    lead_time_days INTEGER NOT NULL,
    safety_stock BIGINT NOT NULL,
    daily_capacity BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX replenishment_parameters_item ON replenishment_parameters (item_id, warehouse_id);

CREATE TABLE holidays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    day DATE NOT NULL UNIQUE,
    name TEXT NOT NULL
);

-- One row: the weekdays the company does not work (ISO numbers, Monday = 1).
CREATE TABLE calendar_settings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    weekend TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
INSERT INTO calendar_settings (weekend, version) VALUES ('[6,7]', 1);

ALTER TABLE document_lines ADD COLUMN promised_date DATE;
ALTER TABLE document_lines ADD COLUMN promise_source TEXT;
