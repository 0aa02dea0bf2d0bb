"""The database: SQLAlchemy models, repository functions, alembic migrations."""
