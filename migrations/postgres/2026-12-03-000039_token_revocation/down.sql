DROP TABLE auth_generation;
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE api_clients DROP COLUMN token_generation;
ALTER TABLE users DROP COLUMN token_generation;
