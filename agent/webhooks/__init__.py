"""Actions: templating, request building, outbox, retry policy, sender, activity, Postman import."""
