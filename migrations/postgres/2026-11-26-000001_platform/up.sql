-- Platform: users, API clients, number series, audit, idempotency; first slice: customers, contacts, items.
-- Amounts and quantities are BIGINT scaled by 10^4; timestamps are UTC.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE api_clients (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_by BIGINT REFERENCES users(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE number_series (
    code TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    next_value BIGINT NOT NULL
);
INSERT INTO number_series (code, pattern, next_value) VALUES ('customer', 'C-{######}', 1);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    request_id TEXT,
    at TIMESTAMP NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id);

CREATE TABLE idempotency_keys (
    id BIGSERIAL PRIMARY KEY,
    principal TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    response_body TEXT,
    location TEXT,
    etag TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (principal, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE customers (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    legal_name TEXT,
    tax_id TEXT,
    email TEXT,
    phone TEXT,
    billing_address TEXT,
    shipping_address TEXT,
    currency TEXT NOT NULL,
    payment_terms_days INTEGER NOT NULL,
    credit_limit BIGINT,
    parent_id BIGINT REFERENCES customers(id),
    owner_id BIGINT REFERENCES users(id),
    status TEXT NOT NULL,
    tags TEXT NOT NULL,
    attributes TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
CREATE INDEX customers_owner ON customers (owner_id, id);
CREATE INDEX customers_parent ON customers (parent_id);
CREATE INDEX customers_updated ON customers (updated_at);
CREATE INDEX customers_tax_id ON customers (tax_id);

CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT,
    email TEXT,
    phone TEXT,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_customer ON contacts (customer_id, id);

CREATE TABLE item_groups (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    parent_id BIGINT REFERENCES item_groups(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX item_groups_parent ON item_groups (parent_id);

CREATE TABLE items (
    id BIGSERIAL PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    item_group_id BIGINT REFERENCES item_groups(id),
    base_unit TEXT NOT NULL,
    kind TEXT NOT NULL,
    standard_cost BIGINT NOT NULL,
    weight BIGINT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    barcode TEXT,
    attributes TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    archived_at TIMESTAMP
);
CREATE INDEX items_group ON items (item_group_id);
CREATE INDEX items_updated ON items (updated_at);
CREATE INDEX items_barcode ON items (barcode);
