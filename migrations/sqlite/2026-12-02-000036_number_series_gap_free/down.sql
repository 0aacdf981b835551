ALTER TABLE number_series DROP COLUMN gap_free;
