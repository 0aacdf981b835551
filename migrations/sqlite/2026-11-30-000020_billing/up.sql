-- Billing: invoices and credit notes (one header table, lines in document_lines),
-- gap-free legal counters per series and year, payments and their allocations.
-- Amounts and quantities are BIGINT scaled by 10^4, rates by 10^8.

ALTER TABLE customers ADD COLUMN invoicing_policy TEXT NOT NULL DEFAULT 'on_delivery';
ALTER TABLE customers ADD COLUMN obligo_limit BIGINT;

-- Order lines: how much is invoiced (base units, net in document currency); invoice
-- lines: how much is credited. Counters, changed by conditional updates only.
ALTER TABLE document_lines ADD COLUMN billed_quantity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE document_lines ADD COLUMN billed_net BIGINT NOT NULL DEFAULT 0;
ALTER TABLE document_lines ADD COLUMN billed_tax BIGINT NOT NULL DEFAULT 0;
-- Invoice line → the order line it bills; credit note line → the invoice line it corrects.
ALTER TABLE document_lines ADD COLUMN source_line_id BIGINT REFERENCES document_lines(id);
ALTER TABLE document_lines ADD COLUMN delivery_line_id BIGINT REFERENCES delivery_lines(id);
CREATE INDEX document_lines_source ON document_lines (source_line_id);

ALTER TABLE delivery_lines ADD COLUMN invoiced_quantity BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sales_orders ADD COLUMN shipping_invoiced BOOLEAN NOT NULL DEFAULT 0;

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    draft_number TEXT NOT NULL,
    fiscal_year INTEGER,
    sequence_no BIGINT,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    contact_id BIGINT REFERENCES contacts(id),
    currency TEXT NOT NULL,
    doc_date DATE NOT NULL,
    due_date DATE,
    payment_terms_days INTEGER NOT NULL,
    price_list_id BIGINT REFERENCES price_lists(id),
    sales_person_id BIGINT REFERENCES sales_persons(id),
    sales_partner_id BIGINT REFERENCES sales_partners(id),
    territory_id BIGINT REFERENCES territories(id),
    campaign_id BIGINT REFERENCES campaigns(id),
    sales_order_id BIGINT REFERENCES sales_orders(id),
    delivery_id BIGINT REFERENCES deliveries(id),
    credited_invoice_id BIGINT REFERENCES invoices(id),
    return_id BIGINT UNIQUE REFERENCES returns(id),
    customer_po TEXT,
    notes TEXT,
    reason TEXT,
    status TEXT NOT NULL,
    net BIGINT NOT NULL,
    tax BIGINT NOT NULL,
    gross BIGINT NOT NULL,
    base_rate BIGINT NOT NULL,
    base_net BIGINT NOT NULL,
    base_tax BIGINT NOT NULL,
    base_gross BIGINT NOT NULL,
    settled BIGINT NOT NULL DEFAULT 0,
    credited BIGINT NOT NULL DEFAULT 0,
    pricing TEXT NOT NULL,
    posted_at TIMESTAMP,
    posted_by TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (kind, fiscal_year, sequence_no)
);
CREATE INDEX invoices_customer ON invoices (customer_id, id);
CREATE INDEX invoices_open ON invoices (status, due_date);
CREATE INDEX invoices_order ON invoices (sales_order_id);
CREATE INDEX invoices_credited ON invoices (credited_invoice_id);

-- Gap-free: one row per series and year, bumped as the last statement of posting.
CREATE TABLE legal_counters (
    series TEXT NOT NULL,
    fiscal_year INTEGER NOT NULL,
    next_value BIGINT NOT NULL,
    last_date DATE NOT NULL,
    PRIMARY KEY (series, fiscal_year)
);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    pay_date DATE NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    reference TEXT,
    cheque_due_date DATE,
    status TEXT NOT NULL,
    allocated BIGINT NOT NULL DEFAULT 0,
    refunded BIGINT NOT NULL DEFAULT 0,
    base_rate BIGINT NOT NULL,
    base_amount BIGINT NOT NULL,
    bounce_fee BIGINT,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id, id);
CREATE INDEX payments_cheques ON payments (status, cheque_due_date);

-- Money applied to an invoice (from a payment or a credit note) or paid out (a refund).
CREATE TABLE allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payment_id BIGINT REFERENCES payments(id),
    credit_note_id BIGINT REFERENCES invoices(id),
    invoice_id BIGINT REFERENCES invoices(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    amount BIGINT NOT NULL,
    source_amount BIGINT NOT NULL,
    rate BIGINT NOT NULL,
    fx_difference BIGINT NOT NULL,
    alloc_date DATE NOT NULL,
    reversed_at TIMESTAMP,
    reversed_reason TEXT,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX allocations_invoice ON allocations (invoice_id);
CREATE INDEX allocations_payment ON allocations (payment_id);
CREATE INDEX allocations_credit_note ON allocations (credit_note_id);
CREATE INDEX allocations_customer ON allocations (customer_id, alloc_date);

INSERT INTO number_series (code, pattern, next_value) VALUES ('invoice_draft', 'DRAFT-{######}', 1);
INSERT INTO number_series (code, pattern, next_value) VALUES ('payment', 'PAY-{YYYY}-{######}', 1);
INSERT INTO number_series (code, pattern, next_value) VALUES ('invoice', 'INV-{YYYY}-{######}', 1);
INSERT INTO number_series (code, pattern, next_value) VALUES ('credit_note', 'CN-{YYYY}-{######}', 1);
