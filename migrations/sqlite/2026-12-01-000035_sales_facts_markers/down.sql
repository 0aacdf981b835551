-- Back to the first layout, empty: the backfill refills it.
DROP TABLE sales_facts;
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
