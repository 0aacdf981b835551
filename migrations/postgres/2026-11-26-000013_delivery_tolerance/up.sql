-- Over-delivery tolerance per item, in percent of the ordered quantity (Rate, 8 decimals).
ALTER TABLE items ADD COLUMN over_delivery_tolerance BIGINT NOT NULL DEFAULT 0;
