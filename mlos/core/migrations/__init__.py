"""Alembic migrations of the registry schema, shipped with MLOS and run when a store opens.

`mlos.core.migrate` runs them; `alembic.ini` beside this file lets a developer add a revision::

    alembic -c mlos/core/migrations/alembic.ini revision --rev-id 0002 -m "what changes"
"""
