-- Token revocation (issue 17). Every access token carries the generation of its
-- principal at issue; deactivating, a change of roles or password, revoking an API
-- client and logging out move the principal on, so older tokens stop working.
-- `auth_generation` is set to a new random value by every such change: a process
-- caches principals' generations and forgets them when this value moves, so a
-- request costs no statement in the common case.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_clients ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
-- Failed logins per user: counted, and the user is locked for a while after too many.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TIMESTAMP;
CREATE TABLE auth_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO auth_generation (id, value) VALUES (1, (random() * 9.0e18)::BIGINT);
