-- Which events the delivery worker has fanned out to subscriptions. A cursor over ids
-- would skip an event whose transaction took its id first but committed after a later
-- one (PostgreSQL hands out ids at insert, not at commit); a flag per event does not.
ALTER TABLE events ADD COLUMN fanned_out BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX events_not_fanned_out ON events (id) WHERE fanned_out = FALSE;
