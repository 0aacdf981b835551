-- The generation of the reference data every order reads (price lists, pricing rules,
-- units, warehouses, approval routes, checklist templates, and which customers have
-- prices of their own): each process caches that
-- data and uses its copy only while this value is what it was loaded at (issue 16).
-- Any change to those tables sets a new value in the changing transaction. The value
-- is random, never a counter: a rolled-back change must not leave a copy stamped with
-- a value that a later change could set again.
CREATE TABLE reference_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO reference_generation (id, value) VALUES (1, random());

CREATE TRIGGER price_lists_generation_insert AFTER INSERT ON price_lists BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER price_lists_generation_update AFTER UPDATE ON price_lists BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER price_lists_generation_delete AFTER DELETE ON price_lists BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER pricing_rules_generation_insert AFTER INSERT ON pricing_rules BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER pricing_rules_generation_update AFTER UPDATE ON pricing_rules BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER pricing_rules_generation_delete AFTER DELETE ON pricing_rules BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER units_generation_insert AFTER INSERT ON units BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER units_generation_update AFTER UPDATE ON units BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER units_generation_delete AFTER DELETE ON units BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER warehouses_generation_insert AFTER INSERT ON warehouses BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER warehouses_generation_update AFTER UPDATE ON warehouses BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER warehouses_generation_delete AFTER DELETE ON warehouses BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER approval_routes_generation_insert AFTER INSERT ON approval_routes BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER approval_routes_generation_update AFTER UPDATE ON approval_routes BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER approval_routes_generation_delete AFTER DELETE ON approval_routes BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER checklist_templates_generation_insert AFTER INSERT ON checklist_templates BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER checklist_templates_generation_update AFTER UPDATE ON checklist_templates BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER checklist_templates_generation_delete AFTER DELETE ON checklist_templates BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER customer_prices_generation_insert AFTER INSERT ON customer_prices BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER customer_prices_generation_update AFTER UPDATE ON customer_prices BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
CREATE TRIGGER customer_prices_generation_delete AFTER DELETE ON customer_prices BEGIN UPDATE reference_generation SET value = random() WHERE id = 1; END;
