-- A document's journal (its events and comments, by stage) becomes part of its audit
-- trail: the entry for a change carries the journal line that describes it, so a use
-- case writes one row, in one insert with the rest of its audit rows (issue 16).
-- Comments without a change are audit rows of their own (action `journal`).
ALTER TABLE audit_log ADD COLUMN journal_stage TEXT;
ALTER TABLE audit_log ADD COLUMN journal_kind TEXT;
ALTER TABLE audit_log ADD COLUMN journal_text TEXT;

INSERT INTO audit_log (entity, entity_id, action, actor, actor_name, request_id, at, changes,
                       journal_stage, journal_kind, journal_text)
SELECT doc_kind, doc_id, 'journal', actor, actor_name, NULL, at, '{}', stage, kind, text
FROM document_journal ORDER BY id;

DROP TABLE document_journal;
