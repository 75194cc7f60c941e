"""Other DICOMweb services: query (QIDO-RS), send (STOW-RS) and retrieve (WADO-RS).

The client side of DICOMweb (PS3.18), over httpx:

* :func:`find` searches for studies, series or instances (DICOM JSON answers,
  made into pydicom data sets as :func:`.peers.find` gives them);
* :func:`send` stores files with STOW-RS, streamed from disk as they are
  (byte-exact, constant memory), several to a request, skipping the
  instances the service already has; each instance gets the service's verdict;
* :func:`get` retrieves a study or series instance by instance with WADO-RS,
  asking for the stored transfer syntax, each multipart answer written to a
  file as it arrives (python-multipart's parser), fsynced.

Outcomes and progress are those of :mod:`.peers`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydicom.dataset import Dataset

from healthvault import filemodes

from . import dicom
from .peers import RETURN_KEYS, Outcome, PeerError, Progress, Transfer
from .spool import file_name, fsync_folder

#: Instances (and bytes) sent in one STOW-RS request at most.
BATCH_FILES = 32
BATCH_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
_DICOM_JSON = "application/dicom+json"
_PATHS = {"STUDY": "studies", "SERIES": "series", "IMAGE": "instances"}
#: DICOM JSON tags the answers are read by.
_SOP_INSTANCE, _SERIES, _STUDY = "00080018", "0020000E", "0020000D"
_REFERENCED, _FAILED, _REASON, _REF_SOP = "00081199", "00081198", "00081197", "00081155"


@dataclass(frozen=True)
class WebNode:
    """A DICOMweb service: its base URL (``…/dicomweb``), a bearer token if it needs one."""

    url: str
    token: str | None = None
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.url})" if self.name else self.url


def _client(node: WebNode) -> httpx.Client:
    headers = {"Authorization": f"Bearer {node.token}"} if node.token else {}
    return httpx.Client(
        base_url=node.url.rstrip("/") + "/", headers=headers, timeout=httpx.Timeout(60.0), follow_redirects=False
    )


def _checked(node: WebNode, response: httpx.Response, doing: str, ok: tuple[int, ...] = (200,)) -> httpx.Response:
    if response.status_code in ok:
        return response
    response.read()
    detail = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    hint = " (the token is missing, wrong or expired)" if response.status_code in (401, 403) else ""
    raise PeerError(
        f"{node} answered {doing} with HTTP {response.status_code}{hint}" + (f": {detail}" if detail else "")
    )


def _request(node: WebNode, client: httpx.Client, method: str, path: str, doing: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise PeerError(f"cannot reach {node} ({doing}): {exc}") from None


def find(
    node: WebNode, level: str, keys: dict[str, str], *, limit: int | None = None, returned: Iterable[str] = ()
) -> list[Dataset]:
    """QIDO-RS: the matches at ``level`` (STUDY, SERIES or IMAGE) of the keys, by keyword,
    with ``returned`` attributes besides those of :data:`.peers.RETURN_KEYS`."""
    level = level.upper()
    if level not in _PATHS:
        raise PeerError(f"query level {level!r}: DICOMweb searches {', '.join(_PATHS)} (not {level})")
    params: list[tuple[str, str]] = [(k, v) for k, v in keys.items()]
    params += [("includefield", k) for k in dict.fromkeys([*RETURN_KEYS[level], *returned]) if k not in keys]
    if limit is not None:
        params.append(("limit", str(limit)))
    with _client(node) as client:
        response = _request(
            node, client, "GET", _PATHS[level] + _query(params), "the search", headers={"Accept": _DICOM_JSON}
        )
        if response.status_code == 204:
            return []
        _checked(node, response, "the search")
        try:
            answers = response.json()
            return [Dataset.from_json(item) for item in answers]
        except (ValueError, TypeError, KeyError) as exc:
            raise PeerError(f"{node} answered the search with something that is not DICOM JSON: {exc}") from None


def _query(params: list[tuple[str, str]]) -> str:
    """A query string keeping the characters of DICOM matching (``^ * ?``) as they are: some
    services (Orthanc 1.10's DICOMweb plugin) do not decode them when percent-encoded."""
    return "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='^*?')}" for k, v in params) if params else ""


def present(node: WebNode, study_uid: str) -> set[str] | None:
    """The SOP Instance UIDs the service holds of a study (None when it cannot say)."""
    try:
        found = find(node, "IMAGE", {"StudyInstanceUID": study_uid})
    except PeerError:
        return None
    return {str(ds.get("SOPInstanceUID", "")).strip() for ds in found} - {""}


@dataclass(frozen=True)
class _File:
    path: Path
    sop_uid: str
    size: int


def _batches(files: list[_File]) -> Iterator[list[_File]]:
    batch: list[_File] = []
    size = 0
    for f in files:
        if batch and (len(batch) >= BATCH_FILES or size + f.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += f.size
    if batch:
        yield batch


def _body(batch: list[_File], boundary: str) -> Iterator[bytes]:
    for f in batch:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        with open(f.path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def _verdicts(answer: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    """SOP Instance UID -> (stored, why not) from a STOW-RS answer."""
    out: dict[str, tuple[bool, str]] = {}
    for item in (answer.get(_REFERENCED) or {}).get("Value") or []:
        for sop in (item.get(_REF_SOP) or {}).get("Value") or []:
            out[str(sop)] = (True, "")
    for item in (answer.get(_FAILED) or {}).get("Value") or []:
        reason = ((item.get(_REASON) or {}).get("Value") or [None])[0]
        for sop in (item.get(_REF_SOP) or {}).get("Value") or []:
            out[str(sop)] = (False, f"failure reason 0x{int(reason):04X}" if reason is not None else "failed")
    return out


def send(
    node: WebNode, paths: Iterable[Path], *, skip: set[str] | None = None, progress: Progress | None = None
) -> Transfer:
    """STOW-RS the files to the service; the instances in ``skip`` are not sent again."""
    transfer = Transfer()
    files: list[_File] = []
    for path in paths:
        header, why = dicom.examine(path)
        sop = (dicom.text(header, "SOPInstanceUID") or "") if header is not None else ""
        if header is None or not sop:
            transfer.outcomes.append(Outcome(sop, "failed", reason=why or "no SOP Instance UID", path=str(path)))
        elif skip and sop in skip:
            transfer.outcomes.append(Outcome(sop, "present", path=str(path)))
        else:
            files.append(_File(path, sop, path.stat().st_size))
            continue
        if progress:
            progress(transfer.outcomes[-1], 0)
    with _client(node) as client:
        for batch in _batches(files):
            boundary = uuid.uuid4().hex
            response = _request(
                node,
                client,
                "POST",
                "studies",
                "STOW-RS",
                content=_body(batch, boundary),
                headers={
                    "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                    "Accept": _DICOM_JSON,
                },
            )
            if response.status_code not in (200, 202, 409):
                _checked(node, response, "STOW-RS")
            try:
                verdicts = _verdicts(response.json()) if response.content.strip() else {}
            except ValueError:
                verdicts = {}
            for f in batch:
                stored, why = verdicts.get(f.sop_uid, (response.status_code == 200, "not in the service's answer"))
                outcome = (
                    Outcome(f.sop_uid, "sent", path=str(f.path))
                    if stored
                    else Outcome(f.sop_uid, "failed", reason=f"HTTP {response.status_code}, {why}", path=str(f.path))
                )
                transfer.outcomes.append(outcome)
                if progress:
                    progress(outcome, f.size)
    return transfer


def _boundary(content_type: str) -> str | None:
    for piece in content_type.split(";")[1:]:
        name, _, value = piece.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None


class _PartWriter:
    """The one part of a WADO-RS answer, written to ``target`` as it arrives."""

    def __init__(self, target: Path, boundary: str) -> None:
        from python_multipart.multipart import MultipartParser

        self.target, self.parts, self.size = target, 0, 0
        self.stream: Any = None
        self.parser = MultipartParser(
            boundary, {"on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end}
        )

    def _begin(self) -> None:
        self.parts += 1
        if self.parts == 1:
            self.stream = open(self.target, "wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.parts == 1 and self.stream is not None:
            self.stream.write(data[start:end])
            self.size += end - start

    def _end(self) -> None:
        if self.stream is not None:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            self.stream = None

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def get(
    node: WebNode, study_uid: str, out: Path, *, series_uid: str | None = None, progress: Progress | None = None
) -> Transfer:
    """WADO-RS each instance of a study (or of one series) into ``out``/<SOP instance>.dcm."""
    keys = {"StudyInstanceUID": study_uid, **({"SeriesInstanceUID": series_uid} if series_uid else {})}
    return get_matching(node, keys, out, progress=progress)


def get_matching(node: WebNode, keys: dict[str, str], out: Path, *, progress: Progress | None = None) -> Transfer:
    """WADO-RS each instance matching ``keys`` (QIDO-RS) into ``out``/<SOP instance>.dcm."""
    study_uid, series_uid = keys.get("StudyInstanceUID", ""), keys.get("SeriesInstanceUID")
    params = [*keys.items(), ("includefield", "SeriesInstanceUID"), ("includefield", "StudyInstanceUID")]
    with _client(node) as client:
        response = _request(
            node, client, "GET", "instances" + _query(params), "the search", headers={"Accept": _DICOM_JSON}
        )
        instances: list[dict[str, Any]] = (
            [] if response.status_code == 204 else _checked(node, response, "the search").json()
        )
    if not instances:
        raise PeerError(
            f"{node} has no instances of study {study_uid}" + (f" series {series_uid}" if series_uid else "")
        )
    filemodes.make_folder(out)
    transfer = Transfer()
    with _client(node) as client:
        for item in instances:
            sop = str(((item.get(_SOP_INSTANCE) or {}).get("Value") or [""])[0])
            series = str(((item.get(_SERIES) or {}).get("Value") or [series_uid or ""])[0])
            study = str(((item.get(_STUDY) or {}).get("Value") or [study_uid])[0])
            outcome = _get_one(node, client, study, series, sop, out)
            transfer.outcomes.append(outcome)
            if progress:
                progress(outcome, Path(outcome.path).stat().st_size if outcome.state == "received" else 0)
    return transfer


def _get_one(node: WebNode, client: httpx.Client, study: str, series: str, sop: str, out: Path) -> Outcome:
    if not sop or not series:
        return Outcome(sop, "failed", reason="the search answer lacks the series or instance UID")
    target = out / file_name(sop)
    partial = target.with_suffix(".part")
    path = f"studies/{quote(study, safe='')}/series/{quote(series, safe='')}/instances/{quote(sop, safe='')}"
    try:
        outcome = _stream_one(
            client, path, sop, target, partial, 'multipart/related; type="application/dicom"; transfer-syntax=*'
        )
        if outcome is _NOT_ACCEPTABLE:  # a service that gives only what it chooses
            outcome = _stream_one(client, path, sop, target, partial, 'multipart/related; type="application/dicom"')
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        return Outcome(sop, "failed", reason=f"cannot reach {node}: {exc}")
    except OSError as exc:
        partial.unlink(missing_ok=True)
        return Outcome(sop, "failed", status=None, reason=f"cannot write {target}: {exc.strerror}")
    except Exception as exc:  # the multipart parser's own errors: a malformed answer
        partial.unlink(missing_ok=True)
        return Outcome(sop, "failed", reason=f"malformed multipart answer: {exc}")
    return outcome


_NOT_ACCEPTABLE = Outcome("", "failed", status=None, reason="HTTP 406")


def _stream_one(client: httpx.Client, path: str, sop: str, target: Path, partial: Path, accept: str) -> Outcome:
    """One instance's answer written to ``partial``, then renamed to ``target``."""
    with client.stream("GET", path, headers={"Accept": accept}) as response:
        if response.status_code == 406:
            response.read()
            return _NOT_ACCEPTABLE
        if response.status_code != 200:
            response.read()
            return Outcome(sop, "failed", reason=f"HTTP {response.status_code}")
        boundary = _boundary(response.headers.get("content-type", ""))
        if boundary is None:
            return Outcome(sop, "failed", reason="the answer is not multipart/related")
        writer = _PartWriter(partial, boundary)
        try:
            for chunk in response.iter_bytes(_CHUNK):
                writer.parser.write(chunk)
            writer.parser.finalize()
        finally:
            writer.close()
    if writer.parts != 1 or not partial.exists():
        partial.unlink(missing_ok=True)
        return Outcome(sop, "failed", reason=f"the answer has {writer.parts} parts, not one")
    partial.rename(target)
    fsync_folder(target.parent)
    return Outcome(sop, "received", path=str(target))
