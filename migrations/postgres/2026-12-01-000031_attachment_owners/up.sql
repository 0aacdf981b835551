-- Attachments belong to any record (an item, a customer, a document, the company,
-- later a ticket), named by owner type and id; the owner's own read and write rights
-- and scope decide who sees them. `send_with_offers` marks item files (brochures,
-- certificates) that go along when a quotation is mailed.
ALTER TABLE attachments ADD COLUMN owner_type TEXT NOT NULL DEFAULT 'item';
ALTER TABLE attachments ADD COLUMN owner_id BIGINT;
UPDATE attachments SET owner_id = item_id;
ALTER TABLE attachments ALTER COLUMN owner_id SET NOT NULL;
ALTER TABLE attachments ALTER COLUMN owner_type DROP DEFAULT;
ALTER TABLE attachments ADD COLUMN send_with_offers BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX attachments_item;
ALTER TABLE attachments DROP COLUMN item_id;
CREATE INDEX attachments_owner ON attachments (owner_type, owner_id, id);
-- Deleting a file asks whether another attachment still shares its bytes.
CREATE INDEX attachments_sha256 ON attachments (sha256);
-- The quoted items' files, found per item when a quotation is mailed.
CREATE INDEX attachments_offers ON attachments (owner_id) WHERE owner_type = 'item' AND send_with_offers;
-- Which attachments (ids) a message carries next to the document's PDF.
ALTER TABLE email_messages ADD COLUMN extra_attachments TEXT NOT NULL DEFAULT '[]';
