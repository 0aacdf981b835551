-- The service desk: tickets (complaints, service requests, questions) with comments,
-- escalations and SLA clocks; categories, teams and SLA policies as set-up; the desk's
-- settings (stages, business hours, priority matrix) and the queue's scoring weights
-- as settings records next to the company's.
CREATE TABLE ticket_categories (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id BIGINT REFERENCES ticket_categories (id),
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE service_teams (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE sla_policies (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers (id),
    customer_group_id BIGINT REFERENCES customer_groups (id),
    priority TEXT,
    first_response_minutes INTEGER NOT NULL,
    resolution_minutes INTEGER NOT NULL,
    at_risk_percent INTEGER NOT NULL,
    escalations TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    contact_id BIGINT REFERENCES contacts (id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT,
    item_id BIGINT REFERENCES items (id),
    sales_order_id BIGINT REFERENCES sales_orders (id),
    delivery_id BIGINT REFERENCES deliveries (id),
    invoice_id BIGINT REFERENCES invoices (id),
    category_id BIGINT REFERENCES ticket_categories (id),
    impact TEXT NOT NULL,
    urgency TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_set_by_hand BOOLEAN NOT NULL,
    stage TEXT NOT NULL,
    -- The stage's category (new, active, waiting, resolved, closed) and whether it is
    -- open: what the queue and the SLA job filter on.
    state TEXT NOT NULL,
    is_open BOOLEAN NOT NULL,
    assignee_id BIGINT REFERENCES users (id),
    team_id BIGINT REFERENCES service_teams (id),
    score INTEGER NOT NULL,
    sla_policy_id BIGINT REFERENCES sla_policies (id),
    -- Business minutes the SLA clock stood still (waiting for the customer, or
    -- resolved before a reopen); the due times below already include them.
    paused_minutes INTEGER NOT NULL,
    paused_since TIMESTAMP,
    first_response_due_at TIMESTAMP,
    first_response_risk_at TIMESTAMP,
    first_responded_at TIMESTAMP,
    resolution_due_at TIMESTAMP,
    resolution_risk_at TIMESTAMP,
    resolved_at TIMESTAMP,
    closed_at TIMESTAMP,
    -- Which SLA notices went out (bits: 1 first response at risk, 2 breached; 4
    -- resolution at risk, 8 breached) and when the job should look next.
    sla_notified INTEGER NOT NULL,
    sla_next_at TIMESTAMP,
    return_id BIGINT REFERENCES returns (id),
    version BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX tickets_customer ON tickets (customer_id, id);
CREATE INDEX tickets_queue ON tickets (is_open, score, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id, is_open, id);
CREATE INDEX tickets_created ON tickets (created_at, id);
CREATE INDEX tickets_sla_next ON tickets (sla_next_at) WHERE sla_next_at IS NOT NULL;
CREATE TABLE ticket_comments (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    body TEXT NOT NULL,
    internal BOOLEAN NOT NULL,
    author TEXT NOT NULL,
    author_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_comments_ticket ON ticket_comments (ticket_id, id);
CREATE TABLE ticket_escalations (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    target TEXT NOT NULL,
    level TEXT NOT NULL,
    actions TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_escalations_ticket ON ticket_escalations (ticket_id, id);
INSERT INTO number_series (code, pattern, next_value) VALUES ('ticket', 'TCK-{YYYY}-{######}', 1);
INSERT INTO jobs (name, interval_seconds, next_run_at) VALUES ('sla_timers', 60, '2000-01-01 00:00:00');
INSERT INTO company_settings (id, data, version, updated_at) VALUES (2, '{}', 1, '2026-12-01 00:00:00');
INSERT INTO company_settings (id, data, version, updated_at) VALUES (3, '{}', 1, '2026-12-01 00:00:00');
