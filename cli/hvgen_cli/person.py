"""``hvgen person``: the persons of the local platform, who sign in and
authorize applications for their records."""

from __future__ import annotations

from pathlib import Path

import click

from .common import data_option, db_option, emit, json_option, local_store, needs_extra, read_password


@click.group()
def person() -> None:
    """Persons of the local platform (they sign in at /signin and /redirect.aspx).

    \b
    Examples:
      hvgen person add alice --name "Alice Doe"     # asks for a password (or makes one)
      hvgen person passwd local
      hvgen person list
    """


def _hash(password: str | None) -> tuple[str, str]:
    """(stored hash, password to print: "" when the user chose it)."""
    with needs_extra("server"):
        from hvgen_server import passwords
    shown = ""
    if password is None:
        password = shown = passwords.new_password()
    try:
        passwords.check_new(password)
    except passwords.PasswordError as exc:
        raise click.ClickException(str(exc)) from None
    return passwords.hash_password(password), shown


@person.command("add")
@click.argument("login")
@click.option("--name", default=None, help="The person's name as applications see it (default: LOGIN).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--record", "record_name", default=None, help="Also make a record of this name for the person.")
@data_option
@db_option
@json_option
def add(
    login: str,
    name: str | None,
    password_stdin: bool,
    record_name: str | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Add a person who signs in as LOGIN.

    Without --password-stdin the password is asked for at a terminal, or
    made and printed once when there is none.
    """
    login = login.strip().lower()
    if not login or any(c.isspace() for c in login):
        raise click.BadParameter("a login is one word", param_hint="LOGIN")
    with local_store(data_dir, database_url) as store:
        if store.person_by_login(login) is not None:
            raise click.ClickException(f"a person with login {login!r} already exists")
        stored, shown = _hash(read_password(password_stdin, login))
        person_id = store.add_person(login, (name or login).strip(), stored)
        record_id = store.add_record(record_name.strip(), [], person_id)[0] if record_name else None
    result = {"person_id": person_id, "login": login, "record_id": record_id, "password": shown or None}

    def text() -> None:
        click.echo(f"person {person_id} (login {login})")
        if record_id:
            click.echo(f"record {record_id}")
        if shown:
            click.echo(f"password: {shown}  (shown once)")

    emit(as_json, result, text)


@person.command("passwd")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@data_option
@db_option
@json_option
def passwd(login: str, password_stdin: bool, data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Give LOGIN a new password (asked for, or made and printed once).

    Every sign-in of LOGIN ends with the old password: browser sessions,
    viewer links and the tokens applications got when LOGIN signed in to
    them (they ask LOGIN to sign in again)."""
    with local_store(data_dir, database_url) as store:
        found = store.person_by_login(login)
        if found is None:
            raise click.ClickException(f"no person with login {login.strip().lower()!r} (hvgen person list shows them)")
        stored, shown = _hash(read_password(password_stdin, found.login))
        with store.write() as tx:  # (the sign-ins made with the old password end with it)
            tx.persons.set_password(found.person_id, stored)
            ended = tx.person_tokens.remove_person(found.person_id)
    emit(
        as_json,
        {"person_id": found.person_id, "login": found.login, "password": shown or None, "signins_ended": ended},
        lambda: click.echo(
            f"password of {found.login} changed"
            + (f": {shown}  (shown once)" if shown else "")
            + (f"; {ended} sign-in(s) ended (browsers and applications sign in again)" if ended else "")
        ),
    )


@person.command("list")
@data_option
@db_option
@json_option
def list_(data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """The persons: LOGIN, PERSON ID, NAME, and whether they can sign in."""
    with local_store(data_dir, database_url) as store:
        with store.read() as tx:
            people = [(p, len(tx.records.of_person(p.person_id))) for p in tx.persons.all()]
    rows = [
        {
            "login": p.login,
            "person_id": p.person_id,
            "name": p.name,
            "can_sign_in": p.password_hash is not None,
            "records": n,
        }
        for p, n in people
    ]

    def text() -> None:
        for row in rows:
            note = "" if row["can_sign_in"] else "  (no password)"
            click.echo(f"{row['login']:<20} {row['person_id']}  {row['name']}{note}")

    emit(as_json, rows, text)
