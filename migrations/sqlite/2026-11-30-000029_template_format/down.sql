CREATE TABLE document_templates_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (kind, language)
);
INSERT INTO document_templates_old (id, kind, language, body, version, created_at, updated_at)
    SELECT id, kind, language, body, version, created_at, updated_at FROM document_templates WHERE format = 'html';
DROP TABLE document_templates;
ALTER TABLE document_templates_old RENAME TO document_templates;
