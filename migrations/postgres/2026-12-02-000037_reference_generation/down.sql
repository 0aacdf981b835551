DROP TRIGGER price_lists_generation ON price_lists;
DROP TRIGGER pricing_rules_generation ON pricing_rules;
DROP TRIGGER units_generation ON units;
DROP TRIGGER warehouses_generation ON warehouses;
DROP TRIGGER approval_routes_generation ON approval_routes;
DROP TRIGGER checklist_templates_generation ON checklist_templates;
DROP TRIGGER customer_prices_generation ON customer_prices;
DROP FUNCTION bump_reference_generation();
DROP TABLE reference_generation;
