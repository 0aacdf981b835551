ALTER TABLE email_messages DROP COLUMN extra_attachments;
CREATE TABLE attachments_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_by TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO attachments_old (id, item_id, kind, filename, content_type, size, sha256, created_by, version, created_at)
    SELECT id, owner_id, kind, filename, content_type, size, sha256, created_by, version, created_at
    FROM attachments WHERE owner_type = 'item';
DROP TABLE attachments;
ALTER TABLE attachments_old RENAME TO attachments;
CREATE INDEX attachments_item ON attachments (item_id, id);
