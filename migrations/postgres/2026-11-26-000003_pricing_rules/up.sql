-- Pricing rules, coupons (with redemptions, counted by sales documents) and shipping rules.

CREATE TABLE pricing_rules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    exclusive BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    valid_from DATE,
    valid_to DATE,
    currency TEXT,
    item_id BIGINT REFERENCES items(id),
    item_group_id BIGINT REFERENCES item_groups(id),
    customer_id BIGINT REFERENCES customers(id) ON DELETE CASCADE,
    customer_tag TEXT,
    campaign_code TEXT,
    territory TEXT,
    min_quantity BIGINT,
    max_quantity BIGINT,
    min_line_amount BIGINT,
    max_line_amount BIGINT,
    min_order_amount BIGINT,
    max_order_amount BIGINT,
    coupon_only BOOLEAN NOT NULL,
    action TEXT NOT NULL,
    percent BIGINT,
    amount BIGINT,
    free_item_id BIGINT REFERENCES items(id),
    buy_quantity BIGINT,
    free_quantity BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX pricing_rules_item ON pricing_rules (item_id);
CREATE INDEX pricing_rules_group ON pricing_rules (item_group_id);
CREATE INDEX pricing_rules_active ON pricing_rules (active, priority);

CREATE TABLE coupons (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    pricing_rule_id BIGINT NOT NULL REFERENCES pricing_rules(id),
    customer_id BIGINT REFERENCES customers(id) ON DELETE CASCADE,
    valid_from DATE,
    valid_to DATE,
    max_uses BIGINT,
    max_uses_per_customer BIGINT,
    uses BIGINT NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE coupon_redemptions (
    id BIGSERIAL PRIMARY KEY,
    coupon_id BIGINT NOT NULL REFERENCES coupons(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    document TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX coupon_redemptions_coupon ON coupon_redemptions (coupon_id, customer_id);

CREATE TABLE shipping_rules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    countries TEXT NOT NULL,
    basis TEXT NOT NULL,
    range_min BIGINT,
    range_max BIGINT,
    charge TEXT NOT NULL,
    amount BIGINT,
    percent BIGINT,
    currency TEXT NOT NULL,
    free_above BIGINT,
    tax_rate_id BIGINT REFERENCES tax_rates(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
