-- Units of measure and per-item conversions (sell in BOX of 12 PCS).

CREATE TABLE units (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    decimals INTEGER NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO units (code, name, decimals, created_at, updated_at) VALUES
    ('PCS', 'Piece', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('BOX', 'Box', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('SET', 'Set', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('PAL', 'Pallet', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('KG', 'Kilogram', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('G', 'Gram', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('L', 'Litre', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('M', 'Metre', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('H', 'Hour', 2, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

CREATE TABLE item_units (
    id BIGSERIAL PRIMARY KEY,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    unit TEXT NOT NULL REFERENCES units(code),
    factor BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (item_id, unit)
);
