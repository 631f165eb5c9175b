"""Request and response models of the HTTP API (what OpenAPI documents), one module per domain."""
