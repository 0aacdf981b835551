-- A customer's posted documents up to a date (statements, credit positions, dunning):
-- with only (status, due_date) and (customer_id, id), SQLite chose the status index and
-- read every posted invoice of every customer (2.5 s per statement PDF over 100,000
-- invoices in `make bench`, against 27 ms on PostgreSQL).
CREATE INDEX invoices_customer_status ON invoices (customer_id, status, doc_date);
