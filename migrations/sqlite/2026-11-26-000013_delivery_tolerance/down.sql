ALTER TABLE items DROP COLUMN over_delivery_tolerance;
