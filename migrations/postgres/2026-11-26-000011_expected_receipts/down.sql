DROP TABLE expected_receipts;
