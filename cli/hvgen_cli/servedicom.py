"""``hvgen serve --dicom-port``: the options of the DICOM storage service run
inside the server (``hvgen_server.ingest.listening``), as ``hvgen dicom listen``'s."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import needs_extra

if TYPE_CHECKING:
    from hvgen_server.config import DicomListening, ServerConfig

_OPTIONS = [
    click.option(
        "--dicom-port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Also run a DICOM service on this port: C-STORE into --dicom-record, C-ECHO, and C-FIND, C-GET and "
        "C-MOVE over that record (C-MOVE to the DIMSE nodes of `hvgen dicom node`).",
    ),
    click.option(
        "--dicom-host",
        default="127.0.0.1",
        show_default=True,
        help="Address the DICOM service listens on: 0.0.0.0 for other machines.",
    ),
    click.option(
        "--dicom-ae-title",
        default="HVGEN",
        show_default=True,
        help="The DICOM service's AE title (any called AE title is accepted, as most PACS do).",
    ),
    click.option(
        "--dicom-allow-ae",
        "dicom_allowed",
        multiple=True,
        metavar="TITLE",
        help="Accept DICOM associations only from this calling AE title (repeat for several). Beyond loopback "
        "an allow-list (or --dicom-allow-any-ae) is required.",
    ),
    click.option(
        "--dicom-allow-any-ae",
        "dicom_allow_any",
        is_flag=True,
        help="With --dicom-host beyond loopback: accept any calling AE title (anyone reaching the port).",
    ),
    click.option(
        "--dicom-record",
        metavar="RECORD_ID",
        default=None,
        help="The record DICOM instances are stored into (default: the first person's record).",
    ),
    click.option(
        "--dicom-idle-timeout",
        type=click.FloatRange(min=1),
        default=30.0,
        show_default=True,
        help="Seconds a DICOM association may stay silent before it is aborted.",
    ),
    click.option(
        "--dicom-max-per-peer",
        type=click.IntRange(min=1),
        default=4,
        show_default=True,
        help="DICOM connections one address may hold at once.",
    ),
]
_NAMES = (
    "dicom_port",
    "dicom_host",
    "dicom_ae_title",
    "dicom_allowed",
    "dicom_allow_any",
    "dicom_record",
    "dicom_idle_timeout",
    "dicom_max_per_peer",
)


def ae_title_problem(title: str) -> str | None:
    stripped = title.strip()
    if not stripped or len(stripped) > 16 or not stripped.isascii() or "\\" in stripped:
        return f"{title!r} is not an AE title (1 to 16 ASCII characters, no backslash)"
    return None


def dicom_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the --dicom-* options; the command receives them as one ``dicom`` argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NAMES}
        kwargs["dicom"] = _listening(values)
        return command(*args, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def _listening(values: dict[str, Any]) -> DicomListening | None:
    if values["dicom_port"] is None:
        return None
    with needs_extra("imaging"):
        import pynetdicom  # noqa: F401  (the DICOM service runs on it)

        from hvgen_server.config import DicomListening
    for title, hint in [(values["dicom_ae_title"], "--dicom-ae-title")] + [
        (a, "--dicom-allow-ae") for a in values["dicom_allowed"]
    ]:
        problem = ae_title_problem(title)
        if problem is not None:
            raise click.BadParameter(problem, param_hint=hint)
    from hvgen_imaging.associations import peer_limit_note

    if not values["dicom_allowed"] and not values["dicom_allow_any"] and peer_limit_note(values["dicom_host"]):
        raise click.UsageError(
            f"--dicom-host {values['dicom_host']} lets any machine that reaches the port store into the record: "
            "name the senders with --dicom-allow-ae TITLE, or accept anyone with --dicom-allow-any-ae"
        )
    return DicomListening(
        port=values["dicom_port"],
        host=values["dicom_host"],
        ae_title=values["dicom_ae_title"].strip(),
        allowed=tuple(a.strip() for a in values["dicom_allowed"]),
        record_id=values["dicom_record"],
        idle_timeout=values["dicom_idle_timeout"],
        max_per_peer=values["dicom_max_per_peer"],
    )


def check_record(config: ServerConfig) -> str | None:
    """The record the DICOM service stores into (None without one); a one-line error when it is unknown."""
    if config.dicom is None:
        return None
    from hvgen_server.backends import open_store
    from hvgen_server.ingest.listening import ListeningError, listening_record

    store = open_store(config)
    try:
        return listening_record(store, config.dicom)
    except ListeningError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def spool_of(config: ServerConfig) -> Path:
    """The DICOM service's spool folder (``DATA/dicom/spool``)."""
    from hvgen_server.ingest.dicomprocess import spool_of as service_spool

    return service_spool(config).root
