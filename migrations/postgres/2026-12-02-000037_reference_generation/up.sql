-- The generation of the reference data every order reads (price lists, pricing rules,
-- units, warehouses, approval routes, checklist templates, and which customers have
-- prices of their own): each process caches that
-- data and uses its copy only while this value is what it was loaded at (issue 16).
-- Any change to those tables sets a new value in the changing transaction, so another
-- process sees the change on its next read of the value. The value is random, never
-- a counter: a rolled-back change must not leave a copy stamped with a value that a
-- later change could set again.
CREATE TABLE reference_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO reference_generation (id, value) VALUES (1, (random() * 9.0e18)::BIGINT);

CREATE FUNCTION bump_reference_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reference_generation SET value = (random() * 9.0e18)::BIGINT WHERE id = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER price_lists_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON price_lists
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER pricing_rules_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pricing_rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER units_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON units
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER warehouses_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON warehouses
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER approval_routes_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON approval_routes
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER checklist_templates_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON checklist_templates
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER customer_prices_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON customer_prices
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
