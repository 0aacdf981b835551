DROP INDEX events_not_fanned_out;
ALTER TABLE events DROP COLUMN fanned_out;
