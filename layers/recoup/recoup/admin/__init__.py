"""The admin API behind the embedded page: session-token auth, routes, and JSON views."""
