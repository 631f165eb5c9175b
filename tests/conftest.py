"""Shared pytest configuration: service fixtures (PostgreSQL, moto S3) live in tests/fixtures."""

pytest_plugins = ["tests.fixtures.services"]
