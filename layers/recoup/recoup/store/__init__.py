"""DynamoDB persistence: one table, PynamoDB models, conditional writes."""
