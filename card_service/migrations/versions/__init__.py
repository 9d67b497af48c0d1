"""Alembic revisions (a package so that an installed permit ships them)."""
