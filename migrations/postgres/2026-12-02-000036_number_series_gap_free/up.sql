-- Gap-free numbering per series (issue 16). A gap-free series bumps its counter row in
-- the document's transaction, which holds the row until commit and so serialises every
-- writer of the series. Only legal documents need that (invoices and credit notes,
-- numbered by legal_counters); the other series take numbers from a sequence of their
-- own, which never waits for another transaction: unique and increasing, but a
-- rolled-back document leaves a gap.
ALTER TABLE number_series ADD COLUMN gap_free BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE number_series SET gap_free = TRUE WHERE code IN ('invoice', 'credit_note');

CREATE FUNCTION number_series_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I MINVALUE 1 START WITH %s',
                   'number_series_' || NEW.code, GREATEST(NEW.next_value, 1));
    RETURN NEW;
END $$;
-- A series added by a later migration gets its sequence too.
CREATE TRIGGER number_series_sequence AFTER INSERT ON number_series
    FOR EACH ROW EXECUTE FUNCTION number_series_sequence();

DO $$
DECLARE r RECORD;
BEGIN
    FOR r IN SELECT code, next_value FROM number_series LOOP
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I MINVALUE 1 START WITH %s',
                       'number_series_' || r.code, GREATEST(r.next_value, 1));
    END LOOP;
END $$;
