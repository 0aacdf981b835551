DROP TRIGGER number_series_sequence ON number_series;
DROP FUNCTION number_series_sequence();
DO $$
DECLARE r RECORD;
BEGIN
    FOR r IN SELECT code FROM number_series LOOP
        -- The counter takes over where the sequence stands, so no number repeats.
        EXECUTE format('UPDATE number_series SET next_value = GREATEST(next_value, '
                       '(SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %I)) WHERE code = %L',
                       'number_series_' || r.code, r.code);
        EXECUTE format('DROP SEQUENCE IF EXISTS %I', 'number_series_' || r.code);
    END LOOP;
END $$;
ALTER TABLE number_series DROP COLUMN gap_free;
