"""Use cases: the one call each handler makes."""
