-- Commission plans of sales persons and partners, and the statements that freeze a
-- plan's month (final once paid).

CREATE TABLE commission_plans (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    sales_person_id BIGINT REFERENCES sales_persons(id),
    sales_partner_id BIGINT REFERENCES sales_partners(id),
    basis TEXT NOT NULL,
    default_rate BIGINT NOT NULL,
    group_rates TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX commission_plans_person ON commission_plans (sales_person_id);
CREATE INDEX commission_plans_partner ON commission_plans (sales_partner_id);
CREATE INDEX invoices_sales_person ON invoices (sales_person_id, doc_date);
CREATE INDEX invoices_sales_partner ON invoices (sales_partner_id, doc_date);

CREATE TABLE commission_statements (
    id BIGSERIAL PRIMARY KEY,
    plan_id BIGINT NOT NULL REFERENCES commission_plans(id),
    period TEXT NOT NULL,
    total BIGINT NOT NULL,
    currency TEXT NOT NULL,
    entries TEXT NOT NULL,
    status TEXT NOT NULL,
    paid_at TIMESTAMP,
    paid_by TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (plan_id, period)
);
