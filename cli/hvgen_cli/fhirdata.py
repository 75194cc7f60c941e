"""``hvgen fhir``: the record as FHIR R4, in and out (the platform's ``/fhir``)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import click

from healthvault.blobio import replacing

from .common import check_output_folder, client, emit, json_option, profile_option, reported

#: How long an export may take before the command gives up waiting.
EXPORT_TIMEOUT = 3600.0


def _service(profile_path: Path | None) -> tuple[str, dict[str, str]]:
    """The FHIR base URL of the profile's platform and the headers of a bearer token for its record."""
    with client(profile_path) as c, reported():
        result = c.dicomweb_token(3600)
    base = result.url.rstrip("/").removesuffix("/dicomweb") + "/fhir"
    return base, {"Authorization": f"Bearer {result.token}", "Accept": "application/fhir+json"}


def _said(response: Any) -> str:
    try:
        issue = response.json()["issue"][0]
        return str(issue.get("diagnostics") or issue.get("code"))
    except (ValueError, KeyError, IndexError, TypeError):
        return str(response.text.strip()[:200])


def _refused(response: Any) -> click.ClickException:
    return click.ClickException(f"the platform refused it (HTTP {response.status_code}): {_said(response)}")


def _read(path: Path) -> dict[str, Any]:
    """A file as one resource or a Bundle to POST (NDJSON lines become a transaction)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        resources = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    resources.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise click.ClickException(f"{path}:{number}: neither JSON nor NDJSON ({exc.msg})") from None
        data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    if data.get("resourceType") == "Bundle" and data.get("type") not in ("transaction", "batch"):
        entries = [{"resource": e.get("resource"), "request": {"method": "POST"}} for e in data.get("entry") or []]
        data = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return data


@click.group("fhir")
def fhir() -> None:
    """The record as FHIR R4: import resources, export everything (NDJSON).

    \b
    Examples:
      hvgen fhir import observations.ndjson
      hvgen fhir import bundle.json
      hvgen fhir export --out exported/
    """


@fhir.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@profile_option
@json_option
def import_(file: Path, profile_path: Path | None, as_json: bool) -> None:
    """Import FILE (one resource, a Bundle, or NDJSON) into the profile's record.

    All or nothing: a resource that maps to no thing type refuses the whole
    file. A resource with an identifier already imported updates its thing.
    """
    import httpx

    data = _read(file)
    base, headers = _service(profile_path)
    bundle = data.get("resourceType") == "Bundle"
    url = base if bundle else f"{base}/{data.get('resourceType')}"
    with reported(httpx.HTTPError):
        response = httpx.post(url, json=data, headers={**headers, "Content-Type": "application/fhir+json"}, timeout=300)
    if response.status_code >= 300:
        raise _refused(response)
    answer = response.json()
    if bundle:
        results = [e["response"] for e in answer.get("entry") or []]
    else:
        location = response.headers.get("location", "")
        results = [{"status": f"{response.status_code}", "location": location.split("/fhir/")[-1]}]
    created = sum(1 for r in results if str(r.get("status", "")).startswith("201"))

    def text() -> None:
        click.echo(
            f"imported {len(results)} resource(s) from {file}: {created} created, {len(results) - created} kept or updated"
        )

    emit(as_json, {"file": str(file), "results": results, "created": created}, text)


@fhir.command("export")
@click.option(
    "--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Folder of the NDJSON files."
)
@click.option("--since", default=None, help="Only things updated after this FHIR instant (a last export's time).")
@click.option("--type", "types", default=None, help="Resource types, comma-separated (default: every type).")
@profile_option
@json_option
def export(out: Path, since: str | None, types: str | None, profile_path: Path | None, as_json: bool) -> None:
    """Export the profile's record as FHIR NDJSON files into --out (Bulk Data $export).

    Prints the export's time: pass it as --since next time to get only what changed.
    """
    import httpx

    check_output_folder(out)
    base, headers = _service(profile_path)
    files: dict[str, int] = {}
    params = {k: v for k, v in (("_since", since), ("_type", types)) if v}
    with reported(httpx.HTTPError, OSError, doing="write"), httpx.Client(headers=headers, timeout=300) as http:
        kicked = http.get(f"{base}/$export", params=params, headers={"Prefer": "respond-async"})
        if kicked.status_code == 400 and params:  # (what was asked for: a usage error)
            raise click.BadParameter(_said(kicked), param_hint="'--since' / '--type'")
        if kicked.status_code != 202:
            raise _refused(kicked)
        status_url = kicked.headers["content-location"]
        deadline = time.monotonic() + EXPORT_TIMEOUT
        while True:
            polled = http.get(status_url)
            if polled.status_code == 200:
                break
            if polled.status_code != 202:
                raise _refused(polled)
            if time.monotonic() > deadline:
                raise click.ClickException(f"the export did not finish within {EXPORT_TIMEOUT:.0f} s")
            time.sleep(min(float(polled.headers.get("retry-after", "1")), 5.0))
        manifest = polled.json()
        try:
            for output in manifest["output"]:
                target = out / f"{output['type']}.ndjson"
                with http.stream("GET", output["url"]) as stream, replacing(target) as sink:
                    if stream.status_code != 200:
                        stream.read()  # (what it says, read before it is quoted)
                        raise _refused(stream)
                    for chunk in stream.iter_bytes():  # streamed: any size in constant memory
                        sink.write(chunk)
                files[str(target)] = int(output.get("count", 0))
        finally:  # (the server forgets the export; a DELETE that fails does not hide what happened here)
            with contextlib.suppress(httpx.HTTPError):
                http.delete(status_url, timeout=10)

    earlier = sorted(str(p) for p in out.glob("*.ndjson") if str(p) not in files)

    def text() -> None:
        for path, count in files.items():
            click.echo(f"{path}: {count} resource(s)")
        click.echo(f"exported as of {manifest['transactionTime']} (next time: --since {manifest['transactionTime']})")
        for path in earlier:
            click.echo(f"note: {path} is not from this export (an earlier one left it)", err=True)

    emit(
        as_json, {"files": files, "transactionTime": manifest["transactionTime"], "not_from_this_export": earlier}, text
    )
