-- Deliveries of confirmed orders and return authorisations against them.

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    sales_order_id BIGINT NOT NULL REFERENCES sales_orders(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    warehouse_id BIGINT NOT NULL REFERENCES warehouses(id),
    status TEXT NOT NULL,
    carrier TEXT,
    tracking_number TEXT,
    packages INTEGER,
    weight BIGINT,
    shipped_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX deliveries_order ON deliveries (sales_order_id);
CREATE INDEX deliveries_customer ON deliveries (customer_id, id);

CREATE TABLE delivery_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES deliveries(id),
    order_line_id BIGINT NOT NULL REFERENCES document_lines(id),
    item_id BIGINT NOT NULL REFERENCES items(id),
    quantity BIGINT NOT NULL,
    unit_cost BIGINT
);
CREATE INDEX delivery_lines_delivery ON delivery_lines (delivery_id);
CREATE INDEX delivery_lines_order_line ON delivery_lines (order_line_id);

CREATE TABLE returns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    delivery_id BIGINT NOT NULL REFERENCES deliveries(id),
    sales_order_id BIGINT NOT NULL REFERENCES sales_orders(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    condition TEXT NOT NULL,
    warehouse_id BIGINT REFERENCES warehouses(id),
    received_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX returns_delivery ON returns (delivery_id);
CREATE INDEX returns_customer ON returns (customer_id, id);

CREATE TABLE return_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    return_id BIGINT NOT NULL REFERENCES returns(id),
    delivery_line_id BIGINT NOT NULL REFERENCES delivery_lines(id),
    item_id BIGINT NOT NULL REFERENCES items(id),
    quantity BIGINT NOT NULL
);
CREATE INDEX return_lines_return ON return_lines (return_id);
CREATE INDEX return_lines_delivery_line ON return_lines (delivery_line_id);

INSERT INTO number_series (code, pattern, next_value) VALUES ('delivery', 'DN-{YYYY}-{######}', 1);
INSERT INTO number_series (code, pattern, next_value) VALUES ('return', 'RMA-{YYYY}-{######}', 1);
