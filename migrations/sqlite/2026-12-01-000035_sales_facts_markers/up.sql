-- Sales facts, second layout. Each row says whether it is the first line of its
-- document, the first of the document's lines in its item group, and the first of
-- the document's lines of its item: the report counts documents by summing the
-- marker that fits its grouping instead of COUNT(DISTINCT doc_id), which sorted
-- every row of the range.
-- Clustered by date (WITHOUT ROWID, the key leads with basis and date): a report
-- over a range reads consecutive pages instead of looking up each row of a date
-- index in the table (2.4 s for a year of 1,000,000 lines through the index, 0.5 s
-- clustered). A line has at most one fact per basis.
-- The table starts empty and the backfill (run by `ordo migrate` and `ordo serve`
-- when it is empty) rebuilds it from the confirmed orders and posted invoices.
DROP TABLE sales_facts;
CREATE TABLE sales_facts (
    basis TEXT NOT NULL,
    doc_id BIGINT NOT NULL,
    line_id BIGINT NOT NULL,
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
    cost_base BIGINT NOT NULL,
    doc_first INTEGER NOT NULL,
    group_first INTEGER NOT NULL,
    item_first INTEGER NOT NULL,
    PRIMARY KEY (basis, doc_date, line_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sales_facts_line ON sales_facts (basis, line_id);
CREATE INDEX sales_facts_document ON sales_facts (basis, doc_id);
CREATE INDEX sales_facts_person ON sales_facts (basis, sales_person_id, doc_date);
