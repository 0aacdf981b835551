DELETE FROM jobs WHERE name = 'email_delivery';
DROP TABLE email_messages;
