DROP TABLE promises_to_pay;
DROP TABLE dunning_notices;
DROP TABLE dunning_levels;
