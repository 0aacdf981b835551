DROP TABLE standard_sales_codes;
DROP TABLE recurring_invoice_runs;
DROP TABLE recurring_invoices;
DROP TABLE job_runs;
DROP TABLE jobs;
