"""The Admin API version Recoup is written against: the one constant the GraphQL client, the
OAuth session, the local stack's webhooks and shopify.app.toml agree on (a test checks).

Shopify supports each quarterly version for at least twelve months and serves the oldest
supported one in place of a retired one; move this forward at least once a year.
"""

API_VERSION = "2026-10"
