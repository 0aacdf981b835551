-- The company itself (one row): what every printed document and e-invoice names as
-- the seller.
CREATE TABLE company_settings (
    id BIGINT PRIMARY KEY,
    data TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO company_settings (id, data, version, updated_at)
VALUES (1, '{"legal_name": "Your Company", "default_language": "en"}', 1, '2026-11-30 00:00:00');
