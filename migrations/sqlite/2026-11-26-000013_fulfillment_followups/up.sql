-- Over-delivery tolerance per item, in percent of the ordered quantity (Rate, 8 decimals).
ALTER TABLE items ADD COLUMN over_delivery_tolerance BIGINT NOT NULL DEFAULT 0;
-- Shipping and releasing take quantities off a line's active reservations.
CREATE INDEX reservations_line ON reservations (order_line_id, status);
