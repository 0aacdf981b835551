-- Sales documents: approval routes, checklist templates, quotations, sales orders (with
-- checklist points and a journal), blanket orders with delivery schedules, activities.
-- Amounts and quantities are BIGINT scaled by 10^4, rates by 10^8.

CREATE TABLE approval_routes (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    order_type TEXT NOT NULL UNIQUE,
    active BOOLEAN NOT NULL,
    stages TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE checklist_templates (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    order_type TEXT NOT NULL UNIQUE,
    points TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE quotations (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL,
    revision INTEGER NOT NULL,
    previous_id BIGINT REFERENCES quotations(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    contact_id BIGINT REFERENCES contacts(id),
    currency TEXT NOT NULL,
    doc_date DATE NOT NULL,
    valid_until DATE,
    price_list_id BIGINT REFERENCES price_lists(id),
    sales_person_id BIGINT REFERENCES sales_persons(id),
    sales_partner_id BIGINT REFERENCES sales_partners(id),
    campaign_id BIGINT REFERENCES campaigns(id),
    territory_id BIGINT REFERENCES territories(id),
    opportunity_id BIGINT REFERENCES opportunities(id),
    payment_terms_days INTEGER,
    coupon_code TEXT,
    terms TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    sales_order_id BIGINT,
    blanket_order_id BIGINT,
    net BIGINT NOT NULL,
    gross BIGINT NOT NULL,
    base_net BIGINT NOT NULL,
    pricing TEXT NOT NULL,
    archived_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (number, revision)
);
CREATE INDEX quotations_customer ON quotations (customer_id, id);
CREATE INDEX quotations_status ON quotations (status, valid_until);
CREATE INDEX quotations_opportunity ON quotations (opportunity_id);

CREATE TABLE sales_orders (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    order_type TEXT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    contact_id BIGINT REFERENCES contacts(id),
    customer_po TEXT,
    currency TEXT NOT NULL,
    doc_date DATE NOT NULL,
    requested_date DATE,
    payment_terms_days INTEGER,
    contract_number TEXT,
    price_list_id BIGINT REFERENCES price_lists(id),
    sales_person_id BIGINT REFERENCES sales_persons(id),
    sales_partner_id BIGINT REFERENCES sales_partners(id),
    campaign_id BIGINT REFERENCES campaigns(id),
    territory_id BIGINT REFERENCES territories(id),
    quotation_id BIGINT REFERENCES quotations(id),
    blanket_order_id BIGINT,
    coupon_code TEXT,
    terms TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    approval TEXT NOT NULL,
    net BIGINT NOT NULL,
    gross BIGINT NOT NULL,
    base_net BIGINT NOT NULL,
    pricing TEXT NOT NULL,
    archived_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sales_orders_customer ON sales_orders (customer_id, id);
CREATE INDEX sales_orders_status ON sales_orders (status, id);
CREATE INDEX sales_orders_blanket ON sales_orders (blanket_order_id);

CREATE TABLE blanket_orders (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    valid_from DATE NOT NULL,
    valid_to DATE NOT NULL,
    value_ceiling BIGINT,
    called_off_value BIGINT NOT NULL,
    contract_number TEXT,
    quotation_id BIGINT REFERENCES quotations(id),
    sales_person_id BIGINT REFERENCES sales_persons(id),
    notes TEXT,
    status TEXT NOT NULL,
    status_reason TEXT,
    archived_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX blanket_orders_customer ON blanket_orders (customer_id, id);

-- Lines of all three documents share one shape; `doc_kind` + `doc_id` say whose they are.
CREATE TABLE document_lines (
    id BIGSERIAL PRIMARY KEY,
    doc_kind TEXT NOT NULL,
    doc_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    item_id BIGINT NOT NULL REFERENCES items(id),
    description TEXT,
    quantity BIGINT NOT NULL,
    unit TEXT NOT NULL,
    base_quantity BIGINT NOT NULL,
    options TEXT NOT NULL,
    components TEXT NOT NULL,
    requested_date DATE,
    unit_price BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    net BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    gross BIGINT NOT NULL,
    tax_rate_id BIGINT,
    tax_percent BIGINT NOT NULL,
    manual_price BIGINT,
    manual_discount_percent BIGINT,
    override_reason TEXT,
    pricing TEXT NOT NULL,
    free_of_rule_id BIGINT,
    planned_unit_cost BIGINT,
    actual_cost BIGINT,
    production_state TEXT,
    blanket_line_id BIGINT REFERENCES document_lines(id),
    called_off_quantity BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX document_lines_doc ON document_lines (doc_kind, doc_id, position);
CREATE INDEX document_lines_item ON document_lines (item_id, doc_kind);
CREATE INDEX document_lines_blanket ON document_lines (blanket_line_id);

CREATE TABLE blanket_schedule_lines (
    id BIGSERIAL PRIMARY KEY,
    blanket_order_id BIGINT NOT NULL REFERENCES blanket_orders(id) ON DELETE CASCADE,
    line_id BIGINT NOT NULL REFERENCES document_lines(id) ON DELETE CASCADE,
    due_date DATE NOT NULL,
    quantity BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX blanket_schedule_lines_order ON blanket_schedule_lines (blanket_order_id, due_date);
CREATE INDEX blanket_schedule_lines_line ON blanket_schedule_lines (line_id, due_date);

CREATE TABLE order_checklist_points (
    id BIGSERIAL PRIMARY KEY,
    sales_order_id BIGINT NOT NULL REFERENCES sales_orders(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    ticked BOOLEAN NOT NULL,
    ticked_by TEXT,
    ticked_at TIMESTAMP,
    comment TEXT
);
CREATE INDEX order_checklist_points_order ON order_checklist_points (sales_order_id, position);

CREATE TABLE document_journal (
    id BIGSERIAL PRIMARY KEY,
    doc_kind TEXT NOT NULL,
    doc_id BIGINT NOT NULL,
    stage TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX document_journal_doc ON document_journal (doc_kind, doc_id, id);

CREATE TABLE activities (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT,
    due_at TIMESTAMP,
    start_at TIMESTAMP,
    end_at TIMESTAMP,
    assignee_id BIGINT REFERENCES users(id),
    customer_id BIGINT REFERENCES customers(id),
    contact_id BIGINT REFERENCES contacts(id),
    lead_id BIGINT REFERENCES leads(id),
    opportunity_id BIGINT REFERENCES opportunities(id),
    quotation_id BIGINT REFERENCES quotations(id),
    sales_order_id BIGINT REFERENCES sales_orders(id),
    done BOOLEAN NOT NULL,
    done_at TIMESTAMP,
    outcome TEXT,
    created_by BIGINT REFERENCES users(id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX activities_assignee ON activities (assignee_id, done, due_at);
CREATE INDEX activities_customer ON activities (customer_id, kind, done_at);
CREATE INDEX activities_lead ON activities (lead_id);

INSERT INTO number_series (code, pattern, next_value) VALUES ('quotation', 'QT-{YYYY}-{######}', 1);
INSERT INTO number_series (code, pattern, next_value) VALUES ('sales_order', 'SO-{YYYY}-{######}', 1);
INSERT INTO number_series (code, pattern, next_value) VALUES ('blanket_order', 'BO-{YYYY}-{######}', 1);
