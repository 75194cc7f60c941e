"""``hvgen record``: the records of the local platform's persons."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from .common import data_option, db_option, emit, json_option, local_store


@click.group()
def record() -> None:
    """Records of the local platform's persons.

    \b
    Examples:
      hvgen record add --person alice --name "Alice's record"
      hvgen record add --person alice --authorize APP_ID   # the application may use it
      hvgen record list --person alice
    """


def _app_ids(store: object, values: tuple[str, ...]) -> list[str]:
    found = []
    for value in values:
        try:
            app_id = str(uuid.UUID(value.strip()))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an application id", param_hint="--authorize") from None
        if store.application(app_id) is None:  # type: ignore[attr-defined]
            raise click.ClickException(f"no application {app_id} (hvgen app list shows them)")
        found.append(app_id)
    return found


@record.command("add")
@click.option("--person", "login", required=True, help="Login of the person the record belongs to.")
@click.option("--name", default=None, help="The record's name (default: the person's name).")
@click.option("--authorize", "apps", multiple=True, help="An application id the person authorizes for it (repeatable).")
@data_option
@db_option
@json_option
def add(
    login: str, name: str | None, apps: tuple[str, ...], data_dir: Path | None, database_url: str | None, as_json: bool
) -> None:
    """Add a record to a person's records."""
    with local_store(data_dir, database_url) as store:
        owner = store.person_by_login(login)
        if owner is None:
            raise click.ClickException(f"no person with login {login.strip().lower()!r} (hvgen person list shows them)")
        app_ids = _app_ids(store, apps)
        record_id, _ = store.add_record((name or owner.name).strip() or owner.login, app_ids, owner.person_id)
    emit(
        as_json,
        {"record_id": record_id, "person_id": owner.person_id, "authorized": app_ids},
        lambda: click.echo(f"record {record_id} of {owner.login}"),
    )


@record.command("list")
@click.option("--person", "login", default=None, help="Only this person's records.")
@data_option
@db_option
@json_option
def list_(login: str | None, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """The records: RECORD ID, PERSON, NAME."""
    with local_store(data_dir, database_url) as store:
        with store.read() as tx:
            people = tx.persons.all()
            if login is not None:
                people = [p for p in people if p.login == login.strip().lower()]
                if not people:
                    raise click.ClickException(f"no person with login {login.strip().lower()!r}")
            rows = [
                {"record_id": r.record_id, "person": p.login, "person_id": p.person_id, "name": r.name}
                for p in people
                for r in tx.records.of_person(p.person_id)
            ]

    def text() -> None:
        for r in rows:
            click.echo(f"{r['record_id']}  {r['person']:<20} {r['name']}")

    emit(as_json, rows, text)
