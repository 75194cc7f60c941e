"""``hvgen app``: the applications the local platform knows.

An existing application keeps its application id and certificate: register
them here and it works against the local platform unchanged.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from .common import data_option, db_option, emit, json_option, local_store, os_reason


@click.group()
def app() -> None:
    """Applications of the local platform.

    \b
    Examples:
      hvgen app add --cert app.pem --app-id 0f6b...  --action-url https://localhost:5001/hv
      hvgen app list
    """


@app.command("add")
@click.option(
    "--cert",
    "cert_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The application's certificate (PEM or DER); its key signs CreateAuthenticatedSessionToken.",
)
@click.option("--app-id", default=None, help="The application's id (default: a new one).")
@click.option("--name", default=None, help="The name persons see on the authorization page.")
@click.option(
    "--action-url", default=None, help="Where the sign-in page sends a person back (with target and wctoken)."
)
@data_option
@db_option
@json_option
def add(
    cert_path: Path,
    app_id: str | None,
    name: str | None,
    action_url: str | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Register an application by its certificate."""
    from cryptography import x509

    from healthvault import crypto

    try:
        data = cert_path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {cert_path}: {os_reason(exc)}") from None
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise click.ClickException(f"{cert_path} holds no certificate (PEM or DER)") from None
    try:
        chosen = str(uuid.UUID(app_id.strip())) if app_id else None
    except ValueError:
        raise click.BadParameter(f"{app_id!r} is not a GUID", param_hint="--app-id") from None
    if action_url is not None:
        from healthvault.weburl import url_problem

        problem = url_problem(action_url)
        if problem is not None:
            raise click.BadParameter(f"{action_url!r} is not a usable URL: {problem}", param_hint="--action-url")
    with local_store(data_dir, database_url) as store:
        if chosen is not None and store.application(chosen) is not None:
            raise click.ClickException(f"application {chosen} is already registered")
        label = name or cert.subject.rfc4514_string() or "application"
        pem = crypto.cert_pem(cert).decode("ascii")
        registered = store.add_application(label, pem, crypto.thumbprint(cert), chosen, action_url)
    emit(
        as_json,
        {"app_id": registered, "name": label, "thumbprint": crypto.thumbprint(cert), "action_url": action_url},
        lambda: click.echo(f"application {registered} ({label})"),
    )


@app.command("list")
@data_option
@db_option
@json_option
def list_(data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """The applications: APP ID, NAME, ACTION URL."""
    with local_store(data_dir, database_url) as store:
        with store.read() as tx:
            apps = tx.applications.all()
    rows = [{"app_id": a.app_id, "name": a.name, "thumbprint": a.thumbprint, "action_url": a.action_url} for a in apps]

    def text() -> None:
        for r in rows:
            click.echo(f"{r['app_id']}  {r['name']}  {r['action_url'] or ''}".rstrip())

    emit(as_json, rows, text)
