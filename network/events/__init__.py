"""Events: the outbox written with each booking, the notices, and their delivery to partners' webhooks."""
