-- Electronic address (Peppol endpoint id and its EAS scheme) for e-invoices, and how
-- posted invoices reach the customer: `manual` (someone sends them) or `email`
-- (mailed when posted), with the UBL XML attached when `e_invoice` is set.
ALTER TABLE customers ADD COLUMN endpoint_id TEXT;
ALTER TABLE customers ADD COLUMN endpoint_scheme TEXT;
ALTER TABLE customers ADD COLUMN invoice_delivery TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE customers ADD COLUMN e_invoice BOOLEAN NOT NULL DEFAULT FALSE;
