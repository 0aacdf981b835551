DROP TABLE item_option_groups;
DROP TABLE item_components;
ALTER TABLE items DROP COLUMN has_structure;
ALTER TABLE items DROP COLUMN bundle_pricing;
