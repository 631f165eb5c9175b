"""Frame and vehicle metadata: SQLAlchemy 2 models, a repository, Alembic migrations shipped in the
package (``backend/metadata/migrations``), SQLite (WAL) by default and PostgreSQL at scale."""
