ALTER TABLE document_lines DROP COLUMN promise_source;
ALTER TABLE document_lines DROP COLUMN promised_date;
DROP TABLE calendar_settings;
DROP TABLE holidays;
DROP TABLE replenishment_parameters;
