-- Sales facts: one row per line of a confirmed sales order (basis 'order') and of a
-- posted invoice or credit note (basis 'invoice', credit notes negative), written in
-- the transaction that confirms or posts the document, with the dimensions the
-- reports group and filter by and the amounts already in the base currency. The sales
-- report and target attainment read only this table, through the indexes below.
CREATE TABLE sales_facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    basis TEXT NOT NULL,
    doc_id BIGINT NOT NULL,
    line_id BIGINT NOT NULL,
    -- The order's confirmation date or the invoice's posting date, and its month as
    -- yyyymm (so monthly grouping is one integer on both databases).
    doc_date DATE NOT NULL,
    month INTEGER NOT NULL,
    customer_id BIGINT NOT NULL,
    customer_group_id BIGINT,
    territory_id BIGINT,
    sales_person_id BIGINT,
    sales_partner_id BIGINT,
    campaign_id BIGINT,
    item_id BIGINT NOT NULL,
    item_group_id BIGINT,
    quantity BIGINT NOT NULL,
    net_base BIGINT NOT NULL,
    cost_base BIGINT NOT NULL
);
CREATE INDEX sales_facts_date ON sales_facts (basis, doc_date);
CREATE INDEX sales_facts_document ON sales_facts (basis, doc_id);
CREATE INDEX sales_facts_person ON sales_facts (basis, sales_person_id, doc_date);

-- Sales targets: a value (amount in the base currency or quantity) for a period and
-- any of a sales person (alone or with their team), an item group and a territory.
CREATE TABLE sales_targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    period TEXT NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    sales_person_id BIGINT REFERENCES sales_persons (id),
    include_team BOOLEAN NOT NULL,
    item_group_id BIGINT REFERENCES item_groups (id),
    territory_id BIGINT REFERENCES territories (id),
    measure TEXT NOT NULL,
    basis TEXT NOT NULL,
    value BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sales_targets_period ON sales_targets (period_start, id);
