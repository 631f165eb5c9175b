"""Alembic environment and versions of the metadata schema."""
