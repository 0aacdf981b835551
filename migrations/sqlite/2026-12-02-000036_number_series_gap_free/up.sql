-- Gap-free numbering per series (issue 16). SQLite has one writer at a time, so every
-- series keeps its counter row in the document's transaction (gap-free in effect, at
-- no cost); the flag matters on PostgreSQL, where it is stored the same way.
ALTER TABLE number_series ADD COLUMN gap_free BOOLEAN NOT NULL DEFAULT 0;
UPDATE number_series SET gap_free = 1 WHERE code IN ('invoice', 'credit_note');
