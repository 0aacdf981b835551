-- Background jobs (one leased row per job, taken by any Ordo process), their run log,
-- recurring invoice templates and what they generated (unique per template and period),
-- and standard sales codes (named sets of lines).

CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    interval_seconds INTEGER NOT NULL,
    next_run_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    locked_by TEXT,
    runs BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    last_started_at TIMESTAMP,
    last_finished_at TIMESTAMP,
    last_status TEXT,
    last_result TEXT,
    last_error TEXT
);

CREATE TABLE job_runs (
    id BIGSERIAL PRIMARY KEY,
    job_name TEXT NOT NULL REFERENCES jobs(name),
    worker TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE INDEX job_runs_job ON job_runs (job_name, id);

INSERT INTO jobs (name, interval_seconds, next_run_at) VALUES ('quotation_expiry', 3600, '2000-01-01 00:00:00');
INSERT INTO jobs (name, interval_seconds, next_run_at) VALUES ('recurring_invoices', 900, '2000-01-01 00:00:00');

CREATE TABLE recurring_invoices (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    currency TEXT NOT NULL,
    period TEXT NOT NULL,
    day_of_period INTEGER NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE,
    auto_post BOOLEAN NOT NULL,
    auto_send BOOLEAN NOT NULL,
    payment_terms_days INTEGER,
    notes TEXT,
    lines TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX recurring_invoices_customer ON recurring_invoices (customer_id, id);
CREATE INDEX recurring_invoices_active ON recurring_invoices (active, id);

CREATE TABLE recurring_invoice_runs (
    id BIGSERIAL PRIMARY KEY,
    template_id BIGINT NOT NULL REFERENCES recurring_invoices(id) ON DELETE CASCADE,
    period_start DATE NOT NULL,
    invoice_date DATE NOT NULL,
    invoice_id BIGINT REFERENCES invoices(id) ON DELETE SET NULL,
    status TEXT NOT NULL,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (template_id, period_start)
);

CREATE TABLE standard_sales_codes (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    lines TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
