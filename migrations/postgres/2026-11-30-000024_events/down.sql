DELETE FROM job_runs WHERE job_name = 'webhook_delivery';
DELETE FROM jobs WHERE name = 'webhook_delivery';
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
DROP TABLE events;
