DELETE FROM company_settings WHERE id IN (2, 3);
DELETE FROM jobs WHERE name = 'sla_timers';
DELETE FROM number_series WHERE code = 'ticket';
DROP TABLE ticket_escalations;
DROP TABLE ticket_comments;
DROP TABLE tickets;
DROP TABLE sla_policies;
DROP TABLE service_teams;
DROP TABLE ticket_categories;
