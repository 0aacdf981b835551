-- A template is HTML (the document as a web page) or PDF (Typst markup, typeset in
-- process); one of each per kind and language. SQLite cannot drop the old UNIQUE
-- (kind, language), so the table is rebuilt.
CREATE TABLE document_templates_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT 'html',
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (kind, format, language)
);
INSERT INTO document_templates_new (id, kind, format, language, body, version, created_at, updated_at)
    SELECT id, kind, 'html', language, body, version, created_at, updated_at FROM document_templates;
DROP TABLE document_templates;
ALTER TABLE document_templates_new RENAME TO document_templates;
