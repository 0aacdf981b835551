-- A template is HTML (the document as a web page) or PDF (Typst markup, typeset in
-- process); one of each per kind and language.
ALTER TABLE document_templates ADD COLUMN format TEXT NOT NULL DEFAULT 'html';
ALTER TABLE document_templates DROP CONSTRAINT document_templates_kind_language_key;
ALTER TABLE document_templates ADD CONSTRAINT document_templates_kind_format_language_key UNIQUE (kind, format, language);
