DELETE FROM document_templates WHERE format <> 'html';
ALTER TABLE document_templates DROP CONSTRAINT document_templates_kind_format_language_key;
ALTER TABLE document_templates DROP COLUMN format;
ALTER TABLE document_templates ADD CONSTRAINT document_templates_kind_language_key UNIQUE (kind, language);
