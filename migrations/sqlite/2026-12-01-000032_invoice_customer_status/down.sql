DROP INDEX invoices_customer_status;
