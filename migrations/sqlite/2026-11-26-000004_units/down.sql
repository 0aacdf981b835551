DROP TABLE item_units;
DROP TABLE units;
