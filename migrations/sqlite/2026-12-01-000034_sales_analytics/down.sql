DROP TABLE sales_targets;
DROP TABLE sales_facts;
