"""The OpenAPI document: the builder asks each protocol for its part, and serves it."""
