DROP TABLE commission_statements;
DROP INDEX invoices_sales_partner;
DROP INDEX invoices_sales_person;
DROP TABLE commission_plans;
