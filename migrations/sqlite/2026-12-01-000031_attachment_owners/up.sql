-- Attachments belong to any record (an item, a customer, a document, the company,
-- later a ticket), named by owner type and id; the owner's own read and write rights
-- and scope decide who sees them. `send_with_offers` marks item files (brochures,
-- certificates) that go along when a quotation is mailed. SQLite cannot drop the
-- item_id column with its foreign key, so the table is rebuilt (columns in the same
-- order as on PostgreSQL).
CREATE TABLE attachments_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    owner_type TEXT NOT NULL,
    owner_id BIGINT NOT NULL,
    send_with_offers BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO attachments_new (id, kind, filename, content_type, size, sha256, created_by, version, created_at,
        owner_type, owner_id, send_with_offers)
    SELECT id, kind, filename, content_type, size, sha256, created_by, version, created_at, 'item', item_id, FALSE
    FROM attachments;
DROP TABLE attachments;
ALTER TABLE attachments_new RENAME TO attachments;
CREATE INDEX attachments_owner ON attachments (owner_type, owner_id, id);
-- Deleting a file asks whether another attachment still shares its bytes.
CREATE INDEX attachments_sha256 ON attachments (sha256);
-- The quoted items' files, found per item when a quotation is mailed.
CREATE INDEX attachments_offers ON attachments (owner_id) WHERE owner_type = 'item' AND send_with_offers;
-- Which attachments (ids) a message carries next to the document's PDF.
ALTER TABLE email_messages ADD COLUMN extra_attachments TEXT NOT NULL DEFAULT '[]';
