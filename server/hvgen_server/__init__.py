"""The local platform server: the HealthVault XML API on one machine.

Starlette + uvicorn for HTTP; a store for things, versions and sessions
(SQLite, or PostgreSQL shared by several servers); blob bytes in a folder
or an S3 bucket. Start it with ``hvgen serve``. It uses the runtime
(``healthvault``) and the parts of ``hvgen_imaging`` its DICOMweb service
and study viewer need; it never imports the build step or the command line.

Modules, by job:

    app          HTTP: routes, request bodies, lifespan
    connections, limits   connection counts, slow clients, bounds on bodies
    headers      security headers of pages, attachments and everything else
    streaming    blob upload and download over plain HTTP
    dispatch     the table of offered methods; request bytes to response bytes
    answers      a method's work as a whole response (status 0 or the status raised)
    auth         request timing, integrity, sessions, persons, record access
    freshness    msg-time windows, and what a second copy of a request gets
    context      the server's state (Platform) and one request's Context
    methods/     one module per method family (sessions, things, query,
                 blobs, packages, persons, service, appinfo, thingtype,
                 dicomweb, viewer)
    dicomweb/    DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI) for a bearer token's record or a browser's
    fhir/        FHIR R4 (/fhir): mappings of thing types, search, import, bulk export
    ingest/      studies stored in process (STOW-RS, the DICOM service of ``--dicom-port``)
    viewer/      the study viewer's pages
    shell        the sign-in and authorization pages (/redirect.aspx, /signin)
    websession   a signed-in browser (session cookie, CSRF, origin checks) for any page
    signins      sign-in attempts counted per client and login, device cookies
    sessionseal  applications' sessions as stored: sealed with the server key
    passwords    persons' passwords as scrypt hashes
    tokens       signed, expiring blob URL tokens
    thingxml     stored thing XML: platform-owned fields, sections, layouts
    xpathfilter  GetThings XPath filters of bounded cost
    thingtypes   the thing types accepted (healthvault's and ``--schemas``')
    versioning/  a type's versions: transforms between them (derived, or written by hand)
    appview      thing flags, and what applications see of a record (personal things hidden)
    pickup, studymerge   picking up connect packages; a study met again
    store/       the store interfaces, the SQLite and PostgreSQL backends, blob bytes
    backends     the configured store and blob bytes backend
    migration    ``hvgen migrate``: a store moved to another backend
    sweeper      removal of abandoned uploads and orphan blob bytes
    ohif         the OHIF Viewer at /ohif/ (--ohif DIST), ohiffetch: ``hvgen ohif fetch``
    bootstrap    first run: store, key, application, first person, record
    config       settings
    errors       the exceptions below

Exceptions: everything the server raises on purpose derives from one root
(each class with the module defining it, and a second base callers may catch)::

    ServerError             errors
    ├── BearerError         dicomweb.bearer
    ├── BlobStoreError      store.s3files, also OSError
    ├── Conflict            store.base
    ├── DicomServiceError   ingest.dicomprocess
    ├── DicomWebError       dicomweb.media
    │   └── BadRendering    viewer.rendered
    ├── FhirError           fhir.errors
    ├── ListeningError      ingest.listening
    ├── MigrationError      migration
    ├── OhifError           ohif
    ├── PasswordError       passwords, also ValueError
    ├── PlatformError       errors, also HealthVaultStatusError
    │   ├── BlobHttpError   streaming
    │   └── Busy            limits
    ├── Refused             viewer.pages
    ├── SchemaPackageError  thingtypes
    ├── SignInFirst         viewer.pages
    ├── StoreError          store.errors
    ├── TagsUnreadable      viewer.tags
    ├── TokenError          tokens
    └── Untransformable     versioning.derive

The envelope, its integrity checks and response writing are the runtime's
(:mod:`healthvault.protocol`), shared with clients.
"""
