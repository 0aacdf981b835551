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

INSERT INTO document_journal (doc_kind, doc_id, stage, kind, text, actor, actor_name, at)
SELECT entity, entity_id, journal_stage, journal_kind, journal_text, actor, actor_name, at
FROM audit_log WHERE journal_text IS NOT NULL ORDER BY id;
DELETE FROM audit_log WHERE action = 'journal';

ALTER TABLE audit_log DROP COLUMN journal_stage;
ALTER TABLE audit_log DROP COLUMN journal_kind;
ALTER TABLE audit_log DROP COLUMN journal_text;
