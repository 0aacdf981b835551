-- Collection: dunning levels, the notices a run recorded (once per invoice and level),
-- and customers' promises to pay.

CREATE TABLE dunning_levels (
    id BIGSERIAL PRIMARY KEY,
    level INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL,
    days_overdue INTEGER NOT NULL,
    fee BIGINT,
    letters TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE dunning_notices (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    level INTEGER NOT NULL,
    as_of DATE NOT NULL,
    days_overdue BIGINT NOT NULL,
    open_amount BIGINT NOT NULL,
    fee BIGINT,
    letter TEXT NOT NULL,
    activity_id BIGINT REFERENCES activities(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (invoice_id, level)
);
CREATE INDEX dunning_notices_customer ON dunning_notices (customer_id, id);

CREATE TABLE promises_to_pay (
    id BIGSERIAL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    promised_date DATE NOT NULL,
    amount BIGINT NOT NULL,
    note TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX promises_to_pay_customer ON promises_to_pay (customer_id, promised_date);
