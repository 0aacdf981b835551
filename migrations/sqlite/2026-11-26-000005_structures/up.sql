-- Product structures (bundles of components) and configurable option groups.

ALTER TABLE items ADD COLUMN bundle_pricing TEXT NOT NULL DEFAULT 'own';
-- Set while the item has components or option groups, so pricing loads structures only when needed.
ALTER TABLE items ADD COLUMN has_structure BOOLEAN NOT NULL DEFAULT 0;

CREATE TABLE item_components (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    component_item_id BIGINT NOT NULL REFERENCES items(id),
    quantity BIGINT NOT NULL,
    required BOOLEAN NOT NULL,
    price_override BIGINT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (item_id, component_item_id)
);
CREATE INDEX item_components_component ON item_components (component_item_id);

CREATE TABLE item_option_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    choices TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (item_id, name)
);
