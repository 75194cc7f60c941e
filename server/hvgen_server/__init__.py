"""The local platform server: the HealthVault XML API on one machine.

Starlette + uvicorn for HTTP, SQLite (WAL) for things, versions and
sessions, a folder for blob bytes. Start it with ``hvgen serve``.

Modules, by job:

    app          HTTP: routes, request bodies, lifespan
    dispatch     the table of offered methods; request bytes to response bytes
    auth         request timing, integrity, sessions, persons, record access
    freshness    msg-time windows, and what a second copy of a request gets
    context      the server's state (Platform) and one request's Context
    methods/     one module per method family (sessions, things, query,
                 blobs, packages, persons, service)
    shell        the sign-in and authorization pages (/redirect.aspx, /signin)
    websession   a signed-in browser (session cookie, CSRF, origin checks) for any page
    signins      sign-in attempts counted per client and login, device cookies
    headers      security headers of pages, attachments and everything else
    sessionseal  applications' sessions as stored: sealed with the server key
    passwords    persons' passwords as scrypt hashes
    streaming    blob upload and download over plain HTTP
    sweeper      removal of abandoned uploads and orphan blob bytes
    store/       the store interfaces, the SQLite backend, blob bytes on disk
    thingxml     stored thing XML: platform-owned fields, sections, XPath
    tokens       signed, expiring blob URL tokens
    bootstrap    first run: store, key, application, first person, record
    config       settings
    errors       PlatformError, answered with a status code

The envelope, its integrity checks and response writing are the runtime's
(:mod:`healthvault.protocol`), shared with clients.
"""
