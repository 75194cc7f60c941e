"""The local platform server: the HealthVault XML API on one machine.

Starlette + uvicorn for HTTP, SQLite (WAL) for things, versions and
sessions, a folder for blob bytes. Start it with ``hvgen serve``.
"""
