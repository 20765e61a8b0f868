"""The anti-corruption layer: verify platform deliveries, turn them into domain events,
and call the platforms' APIs. Nothing past this package sees a raw webhook."""
