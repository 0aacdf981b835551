-- Pricing: exchange rates, tax rates, price lists, item prices, customer prices, discounts.
-- Rates and percentages are BIGINT scaled by 10^8, amounts and quantities by 10^4.

CREATE TABLE exchange_rates (
    id BIGSERIAL PRIMARY KEY,
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    rate BIGINT NOT NULL,
    valid_from DATE NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (from_currency, to_currency, valid_from)
);

CREATE TABLE tax_rates (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    percent BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE price_lists (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL,
    prices_include_tax BOOLEAN NOT NULL,
    valid_from DATE,
    valid_to DATE,
    base_price_list_id BIGINT REFERENCES price_lists(id),
    markup_percent BIGINT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX price_lists_base ON price_lists (base_price_list_id);

CREATE TABLE item_prices (
    id BIGSERIAL PRIMARY KEY,
    price_list_id BIGINT NOT NULL REFERENCES price_lists(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL REFERENCES items(id),
    unit TEXT NOT NULL,
    price BIGINT NOT NULL,
    min_quantity BIGINT NOT NULL,
    valid_from DATE,
    valid_to DATE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX item_prices_list_item ON item_prices (price_list_id, item_id);
CREATE INDEX item_prices_item ON item_prices (item_id);

CREATE TABLE customer_prices (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
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
CREATE INDEX customer_prices_customer_item ON customer_prices (customer_id, item_id);
CREATE INDEX customer_prices_item ON customer_prices (item_id);

CREATE TABLE group_discounts (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT REFERENCES customers(id) ON DELETE CASCADE,
    item_group_id BIGINT NOT NULL REFERENCES item_groups(id),
    percent BIGINT NOT NULL,
    valid_from DATE,
    valid_to DATE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX group_discounts_group ON group_discounts (item_group_id, customer_id);
CREATE INDEX group_discounts_customer ON group_discounts (customer_id);

ALTER TABLE items ADD COLUMN tax_rate_id BIGINT REFERENCES tax_rates(id);
ALTER TABLE customers ADD COLUMN price_list_id BIGINT REFERENCES price_lists(id);
ALTER TABLE customers ADD COLUMN tax_treatment TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE customers ADD COLUMN discount_percent BIGINT;
CREATE INDEX customers_price_list ON customers (price_list_id);
CREATE INDEX items_tax_rate ON items (tax_rate_id);
