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
      hvgen app versions 0f6b... c75651c8-548e-449f-8942-9e6379b0b88a   (reads medical image study v1 only)
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
@click.option(
    "--type-version",
    "type_versions",
    multiple=True,
    help="A thing type version (type id) the application reads and writes; repeat for more "
    "(default: every thing as stored). See `hvgen app versions`.",
)
@data_option
@db_option
@json_option
def add(
    cert_path: Path,
    app_id: str | None,
    name: str | None,
    action_url: str | None,
    type_versions: tuple[str, ...],
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
    versions = _type_ids(type_versions, "--type-version")
    with local_store(data_dir, database_url) as store:
        if chosen is not None and store.application(chosen) is not None:
            raise click.ClickException(f"application {chosen} is already registered")
        label = name or cert.subject.rfc4514_string() or "application"
        pem = crypto.cert_pem(cert).decode("ascii")
        with store.write() as tx:
            registered = tx.applications.add(label, pem, crypto.thumbprint(cert), chosen, action_url)
            tx.applications.set_type_versions(registered, " ".join(versions))
    emit(
        as_json,
        {
            "app_id": registered,
            "name": label,
            "thumbprint": crypto.thumbprint(cert),
            "action_url": action_url,
            "type_versions": versions,
        },
        lambda: click.echo(f"application {registered} ({label})"),
    )


def _type_ids(values: tuple[str, ...], hint: str) -> list[str]:
    """Type ids as GUIDs in their usual form, each once."""
    out: list[str] = []
    for value in values:
        try:
            type_id = str(uuid.UUID(value.strip()))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a thing type id (a GUID)", param_hint=hint) from None
        if type_id not in out:
            out.append(type_id)
    return out


@app.command("versions")
@click.argument("app_id")
@click.argument("type_ids", nargs=-1)
@data_option
@db_option
@json_option
def versions(
    app_id: str, type_ids: tuple[str, ...], data_dir: Path | None, database_url: str | None, as_json: bool
) -> None:
    """Set the thing type versions APP_ID reads and writes (none: every thing as stored).

    \b
    For a type of which the application names a version, GetThings returns
    things stored in another version transformed to it (flags Downversioned
    0x2 or Upversioned 0x4) and a query by its type id finds every version.
    A GetThings request's <type-version-format> overrides this per type.
    """
    chosen = _type_ids((app_id,), "APP_ID")[0]
    wanted = _type_ids(type_ids, "TYPE_IDS")
    from hvgen_server.thingtypes import ThingTypes

    known = set(ThingTypes().type_ids())
    for unknown in (t for t in wanted if t not in known):  # (a type of a --schemas package the server is given)
        click.echo(
            f"note: {unknown} is not a thing type of this hvgen; it counts only if `hvgen serve --schemas` adds it",
            err=True,
        )
    with local_store(data_dir, database_url) as store:
        with store.write() as tx:
            if not tx.applications.set_type_versions(chosen, " ".join(wanted)):
                raise click.ClickException(f"no application {chosen} is registered (see `hvgen app list`)")
    emit(
        as_json,
        {"app_id": chosen, "type_versions": wanted},
        lambda: click.echo(
            f"application {chosen} reads and writes "
            + (", ".join(wanted) if wanted else "every thing in the version it is stored in")
        ),
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
    rows = [
        {
            "app_id": a.app_id,
            "name": a.name,
            "thumbprint": a.thumbprint,
            "action_url": a.action_url,
            "type_versions": a.type_versions.split(),
        }
        for a in apps
    ]

    def text() -> None:
        for r in rows:
            click.echo(f"{r['app_id']}  {r['name']}  {r['action_url'] or ''}".rstrip())

    emit(as_json, rows, text)
