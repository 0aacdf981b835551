DROP INDEX reservations_line;
ALTER TABLE items DROP COLUMN over_delivery_tolerance;
