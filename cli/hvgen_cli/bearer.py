"""``hvgen token``: a bearer token for the platform's DICOMweb service."""

from __future__ import annotations

import re
from pathlib import Path

import click

from .common import client, emit, json_option, profile_option, reported

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """``3600``, ``90s``, ``30m``, ``12h`` or ``7d`` in seconds."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text.lower())
    if not found or int(found.group(1)) == 0:
        raise click.BadParameter(
            f"{text!r} is not a lifetime such as 3600, 90s, 30m, 12h or 7d (more than zero)", param_hint="--ttl"
        )
    return int(found.group(1)) * _UNITS[found.group(2) or "s"]


@click.command("token")
@click.option(
    "--ttl",
    default="1h",
    show_default=True,
    help="How long the token is valid: seconds, or 90s, 30m, 12h, 7d (the platform caps it at 30 days).",
)
@profile_option
@json_option
def token(ttl: str, profile_path: Path | None, as_json: bool) -> None:
    """Print a bearer token for the DICOMweb service of the profile's record.

    The platform issues the token (CreateDicomWebToken) to the profile's
    application; DICOMweb clients send it as `Authorization: Bearer TOKEN`
    to the URL printed on stderr. It expires after --ttl, and stops working
    if the application loses access to the record.

    \b
    Examples:
      hvgen token
      TOKEN=$(hvgen token --ttl 12h)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/dicomweb/studies
    """
    seconds = parse_ttl(ttl)
    with client(profile_path) as c, reported():
        result = c.dicomweb_token(seconds)
    expires = result.expires.isoformat().replace("+00:00", "Z")
    data = {"token": result.token, "expires": expires, "url": result.url, "record_id": c.record_id}

    def text() -> None:
        click.echo(result.token)
        click.echo(f"note: DICOMweb at {result.url}, token valid until {expires}", err=True)

    emit(as_json, data, text)
