DELETE FROM number_series WHERE code IN ('delivery', 'return');
DROP TABLE return_lines;
DROP TABLE returns;
DROP TABLE delivery_lines;
DROP TABLE deliveries;
