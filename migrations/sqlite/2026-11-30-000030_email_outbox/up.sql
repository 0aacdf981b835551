-- The e-mail outbox: one row per message, written in the transaction that sends the
-- document (or posts the invoice). The leased `email_delivery` job renders the
-- attachments and hands the message to SMTP; every attempt's answer is kept.
CREATE TABLE email_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_kind TEXT NOT NULL,
    doc_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    language TEXT NOT NULL,
    attach_ubl BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_answer TEXT,
    log TEXT NOT NULL,
    sent_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX email_messages_due ON email_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_messages_document ON email_messages (doc_kind, doc_id, id);
CREATE INDEX email_messages_customer ON email_messages (customer_id, id);
INSERT INTO jobs (name, interval_seconds, next_run_at) VALUES ('email_delivery', 5, '2000-01-01 00:00:00');
