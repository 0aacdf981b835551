-- Sales team (territories, customer groups, sales persons, partners, campaigns), leads,
-- pipeline stages and opportunities. Rates are BIGINT scaled by 10^8, amounts by 10^4.

CREATE TABLE territories (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent_id BIGINT REFERENCES territories(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX territories_parent ON territories (parent_id);

CREATE TABLE customer_groups (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE sales_persons (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    user_id BIGINT UNIQUE REFERENCES users(id),
    manager_id BIGINT REFERENCES sales_persons(id),
    territory_id BIGINT REFERENCES territories(id),
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sales_persons_manager ON sales_persons (manager_id);

CREATE TABLE sales_partners (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    commission_rate BIGINT NOT NULL,
    territory_id BIGINT REFERENCES territories(id),
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE campaigns (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    start_date DATE,
    end_date DATE,
    budget BIGINT,
    currency TEXT,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

ALTER TABLE customers ADD COLUMN territory_id BIGINT REFERENCES territories(id);
ALTER TABLE customers ADD COLUMN customer_group_id BIGINT REFERENCES customer_groups(id);
ALTER TABLE customers ADD COLUMN sales_person_id BIGINT REFERENCES sales_persons(id);
ALTER TABLE customers ADD COLUMN sales_partner_id BIGINT REFERENCES sales_partners(id);
ALTER TABLE customers ADD COLUMN campaign_id BIGINT REFERENCES campaigns(id);
ALTER TABLE customers ADD COLUMN contact_frequency_days INTEGER;
CREATE INDEX customers_territory ON customers (territory_id);
CREATE INDEX customers_group ON customers (customer_group_id);

CREATE TABLE leads (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    person_name TEXT,
    company_name TEXT,
    email TEXT,
    phone TEXT,
    source TEXT,
    campaign_id BIGINT REFERENCES campaigns(id),
    territory_id BIGINT REFERENCES territories(id),
    owner_id BIGINT REFERENCES users(id),
    status TEXT NOT NULL,
    disqualified_reason TEXT,
    notes TEXT,
    customer_id BIGINT REFERENCES customers(id),
    converted_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX leads_owner ON leads (owner_id, id);
CREATE INDEX leads_status ON leads (status, id);

CREATE TABLE pipeline_stages (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL,
    probability BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE opportunities (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    lead_id BIGINT REFERENCES leads(id),
    owner_id BIGINT REFERENCES users(id),
    stage_id BIGINT NOT NULL REFERENCES pipeline_stages(id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    expected_close DATE,
    probability BIGINT,
    status TEXT NOT NULL,
    lost_reason TEXT,
    competitor TEXT,
    territory_id BIGINT REFERENCES territories(id),
    campaign_id BIGINT REFERENCES campaigns(id),
    stage_changed_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX opportunities_customer ON opportunities (customer_id, id);
CREATE INDEX opportunities_lead ON opportunities (lead_id);
CREATE INDEX opportunities_owner ON opportunities (owner_id, id);
CREATE INDEX opportunities_status ON opportunities (status, expected_close);

CREATE TABLE opportunity_items (
    id BIGSERIAL PRIMARY KEY,
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id) ON DELETE CASCADE,
    item_id BIGINT NOT NULL REFERENCES items(id),
    quantity BIGINT NOT NULL,
    estimated_price BIGINT
);
CREATE INDEX opportunity_items_opportunity ON opportunity_items (opportunity_id);
CREATE INDEX opportunity_items_item ON opportunity_items (item_id);

CREATE TABLE opportunity_stage_changes (
    id BIGSERIAL PRIMARY KEY,
    opportunity_id BIGINT NOT NULL REFERENCES opportunities(id) ON DELETE CASCADE,
    from_stage_id BIGINT REFERENCES pipeline_stages(id),
    to_stage_id BIGINT NOT NULL REFERENCES pipeline_stages(id),
    changed_at TIMESTAMP NOT NULL,
    changed_by TEXT NOT NULL
);
CREATE INDEX opportunity_stage_changes_opportunity ON opportunity_stage_changes (opportunity_id, id);
CREATE INDEX opportunity_stage_changes_at ON opportunity_stage_changes (changed_at);

INSERT INTO number_series (code, pattern, next_value) VALUES ('lead', 'L-{######}', 1);
