ALTER TABLE customers DROP COLUMN e_invoice;
ALTER TABLE customers DROP COLUMN invoice_delivery;
ALTER TABLE customers DROP COLUMN endpoint_scheme;
ALTER TABLE customers DROP COLUMN endpoint_id;
