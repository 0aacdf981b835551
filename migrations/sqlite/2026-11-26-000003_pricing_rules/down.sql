DROP TABLE shipping_rules;
DROP TABLE coupon_redemptions;
DROP TABLE coupons;
DROP TABLE pricing_rules;
