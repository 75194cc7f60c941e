"""The viewer's pages and downloads (Starlette routes, rendered with jinja2).

Routes (GET but the flags form):
    /viewer                                         the signed-in person's records
    /viewer/open?link=TOKEN&record=ID               a one-time link (CreateViewerLink): signs in, shows the record
    /viewer/RECORD                                  the record's studies, 50 a page: searched, sorted
                                                    (?patient=&from=&to=&modality=&accession=&description=
                                                    &sort=&order=&page=, see search.py)
    /viewer/RECORD/THING                            a study: details, signature, series with previews
    /viewer/RECORD/THING/series/N?image=K           image K of series N (arrow keys page through)
    /viewer/RECORD/THING/series/N/full?image=K      its preview at full size
    /viewer/RECORD/THING/series/N/tags?image=K      its DICOM tags (tags.py)
    /viewer/RECORD/THING/series/N/frame?image=K&frame=F&window=C,W   a frame rendered (rendered.py)
    /viewer/RECORD/THING/preview/NAME               a preview (JPEG)
    /viewer/RECORD/THING/image/NAME                 an image's DICOM file, as uploaded
    /viewer/RECORD/THING/study.zip                  every DICOM file of the study, as a ZIP
    /viewer/RECORD/THING/xml                        the stored thing XML
    /viewer/RECORD/THING/delete, POST               delete the study, confirmed (deleting.py)
    /viewer/upload/RECORD, POST                     upload files from the browser (uploading.py)
    POST /viewer/RECORD/THING/flags                 set or clear the person's flags (personal, hidden from
                                                    the emergency profile): a new version of the thing
    (a study page links to OHIF, /ohif/viewer/…, when the server serves it: --ohif)
    /static/...                                     the viewer's stylesheet, script and icon

A person who is not signed in is sent to the sign-in page and back. A
person sees only their own records; a browser signed in by a link only
those the link's application may use. Every failure is a page in the
viewer's style (no traceback); pages load nothing from other sites.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .. import ohif, pagecache, websession
from ..context import Platform
from ..dicomweb.media import DicomWebError
from ..errors import ServerError
from ..headers import ATTACHMENT, INLINE_IMAGES, SANDBOX, media_type, page_csp, page_headers
from ..store.rows import RecordRow
from ..websession import CSRF_FIELD, LINK_PATH, Visitor, csrf_ok, csrf_token, from_this_site, keep_csrf
from . import deidentify, deleting, flagging, present
from .archive import Entry, safe_part, unique_paths, zip_stream
from .listing import listing, unsearched
from .search import parse as parse_search
from .studies import Series, Studies, Study, Unreadable

try:  # reading DICOM headers needs the imaging extra
    from ..dicomweb import index as dicom_index
    from . import imageinfo, rendered, uploading
    from . import tags as dicom_tags
except ImportError:
    dicom_index = dicom_tags = None  # type: ignore[assignment]
    rendered = uploading = imageinfo = None  # type: ignore[assignment]

log = logging.getLogger("hvgen_server")

#: What the study list says when it cannot search.
NO_SEARCH = "Searching and sorting studies needs the imaging extra on the server: pip install 'hvgen[imaging]'."

#: Where the viewer lives.
VIEWER_PATH = "/viewer"
PACKAGE = Path(__file__).resolve().parent.parent
STATIC = PACKAGE / "static"

templates = Jinja2Templates(directory=str(PACKAGE / "pages"))
templates.env.trim_blocks = templates.env.lstrip_blocks = True
templates.env.bytecode_cache = pagecache.bytecode_cache()
templates.env.filters.update(
    when=present.when,
    size=present.size,
    plural=present.plural,
    modality=present.modality,
    person=present.person_name,
    quote=lambda text: quote(str(text), safe=""),
)

#: Headers of every page: nothing from elsewhere, no framing, no sniffing.
PAGE_HEADERS = page_headers()


class Refused(ServerError):
    """A request the viewer answers with an error page."""

    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status, self.heading, self.message = status, heading, message


class SignInFirst(ServerError):
    """Nobody is signed in on this browser."""


def _number(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


Handler = Callable[[Request], Response]


class Viewer:
    """The study viewer of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.studies = Studies(platform.store, platform.config.signer_trust())
        self.freshness = dicom_index.Freshness() if dicom_index is not None else None
        for name in templates.env.list_templates(filter_func=lambda name: name.startswith("viewer/")):
            templates.get_template(name)  # compiled now, not on someone's first page

    def routes(self) -> list[BaseRoute]:
        study = VIEWER_PATH + "/{record_id}/{thing_id}"
        return [
            Route("/", self.home, methods=["GET", "HEAD"]),
            Route(VIEWER_PATH, self._page(self.records)),
            Route(LINK_PATH, self._page(self.open_link)),
            *(uploading.Uploads(self).routes() if uploading is not None else []),
            Route(VIEWER_PATH + "/{record_id}", self._page(self.record)),
            Route(study, self._page(self.study)),
            Route(study + "/series/{number:int}", self._page(self.series)),
            Route(study + "/series/{number:int}/full", self._page(self.full_size)),
            Route(study + "/series/{number:int}/tags", self._page(self.tag_view)),
            Route(study + "/series/{number:int}/frame", self._page(self.frame)),
            *(imageinfo.routes(self, study) if imageinfo is not None else []),
            Route(study + "/preview/{name:path}", self._page(self.preview)),
            Route(study + "/image/{name:path}", self._page(self.image)),
            Route(study + "/study.zip", self._page(self.archive)),
            Route(study + "/study-deidentified.zip", self._page(self.deidentified_archive)),
            Route(study + "/xml", self._page(self.xml)),
            Route(study + "/flags", self.flags, methods=["POST"]),
            Route(study + "/delete", self._page(self.delete_page)),
            Route(study + "/delete", self.delete, methods=["POST"]),
            Route(VIEWER_PATH + "/{rest:path}", self._page(self.unknown)),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ]

    @staticmethod
    def home(request: Request) -> Response:
        """The server's address itself leads to the viewer (and from there to the
        sign-in page when nobody is signed in)."""
        return RedirectResponse(VIEWER_PATH, status_code=303)

    # -- plumbing -------------------------------------------------------------------------------

    def _page(self, handler: Handler) -> Handler:
        """``handler`` with its refusals (and anything unforeseen) as error pages."""

        def page(request: Request) -> Response:
            try:
                return handler(request)
            except SignInFirst:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(websession.sign_in_url(here), status_code=303)
            except Refused as exc:
                return self._message(request, exc.status, exc.heading, exc.message)
            except Exception as exc:  # never a traceback in the browser
                log.exception("internal error serving %s: %s", request.url.path, exc)
                return self._message(
                    request, 500, "Something went wrong", "The viewer could not show this page; see the server log."
                )

        return page

    def _render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        csrf = csrf_token(self.platform, request)
        visitor = context.get("visitor") or websession.visitor(self.platform, request, time.time())
        response = templates.TemplateResponse(
            request,
            name,
            {**context, "visitor": visitor, "csrf": csrf.token, "csrf_field": CSRF_FIELD},
            status_code=status,
        )
        keep_csrf(self.platform, request, response, csrf)
        response.headers.update(PAGE_HEADERS)
        return response

    def _message(self, request: Request, status: int, heading: str, message: str) -> Response:
        return self._render(request, "viewer/message.html", {"heading": heading, "message": message}, status)

    def _visitor(self, request: Request) -> Visitor:
        found = websession.visitor(self.platform, request, time.time())
        if found is None:
            raise SignInFirst()
        return found

    def _records_of(self, visitor: Visitor) -> list[RecordRow]:
        with self.platform.store.read() as tx:
            if visitor.app_id is None:
                return tx.records.of_person(visitor.person.person_id)
            return tx.records.authorized_for(visitor.app_id, visitor.person.person_id)

    def _record(self, request: Request) -> tuple[Visitor, RecordRow]:
        visitor = self._visitor(request)
        record_id = _guid(request.path_params["record_id"])
        record = self.platform.store.record(record_id) if record_id else None
        if record is None:
            raise Refused(404, "No such record", "There is no record at this address.")
        if record.person_id != visitor.person.person_id:
            raise Refused(403, "Not your record", "This record belongs to another person.")
        if visitor.app_id is not None and not self.platform.store.authorized(visitor.app_id, record.record_id):
            raise Refused(
                403,
                "Not reachable with this link",
                "The link you signed in with reaches only the records its application may use. "
                "Sign out and sign in with your password to see this record.",
            )
        return visitor, record

    def _study(self, request: Request) -> tuple[Visitor, RecordRow, Study | Unreadable]:
        visitor, record = self._record(request)
        thing_id = _guid(request.path_params["thing_id"])
        study = self.studies.study(record.record_id, thing_id, visitor.hidden_flags) if thing_id else None
        if study is None:
            raise Refused(404, "No such study", "The record holds no study at this address (deleted, or never there).")
        return visitor, record, study

    def _readable(self, request: Request) -> tuple[Visitor, RecordRow, Study]:
        visitor, record, study = self._study(request)
        if isinstance(study, Unreadable):
            raise Refused(404, "Cannot show this study", f"This study cannot be shown: {study.problem}")
        return visitor, record, study

    @staticmethod
    def _series(study: Study, number: int) -> Series:
        if not 1 <= number <= len(study.series):
            raise Refused(
                404, "No such series", f"This study has {present.plural(len(study.series), 'series', 'series')}."
            )
        return study.series[number - 1]

    # -- pages ----------------------------------------------------------------------------------

    def records(self, request: Request) -> Response:
        visitor = self._visitor(request)
        records = self._records_of(visitor)
        counted = [(r, self.studies.count(r.record_id, visitor.hidden_flags)) for r in records]
        return self._render(request, "viewer/records.html", {"visitor": visitor, "records": counted})

    def open_link(self, request: Request) -> Response:
        now = time.time()
        found = websession.redeem_link(self.platform, request.query_params.get("link", ""), now)
        if isinstance(found, str):
            raise Refused(403, "This link cannot be used", found)
        record_id = _guid(request.query_params.get("record", ""))
        response = RedirectResponse(f"{VIEWER_PATH}/{record_id}" if record_id else VIEWER_PATH, status_code=303)
        person = self.platform.store.person(found.person_id)
        if person is None or found.app_id is None:
            raise Refused(403, "This link cannot be used", "The link names no person of this platform.")
        current = websession.visitor(self.platform, request, now)
        if current is None or current.person.person_id != person.person_id or current.app_id is not None:
            websession.sign_in(self.platform, request, response, person, now, link_app=found.app_id)
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def record(self, request: Request) -> Response:
        visitor, record = self._record(request)
        search = parse_search(request.query_params)
        if self.freshness is None:
            page = unsearched(self.studies, record.record_id, search, visitor.hidden_flags)
            search = replace(search, problem=NO_SEARCH, searchable=False)
        else:
            self.freshness.refresh(self.platform, record.record_id)  # studies written since are listed
            page = listing(self.studies, record.record_id, search, visitor.hidden_flags)
        context = {"visitor": visitor, "record": record, "page": page, "search": search}
        return self._render(request, "viewer/studies.html", context)

    def study(self, request: Request) -> Response:
        visitor, record, study = self._study(request)
        context = {"visitor": visitor, "record": record, "study": study, "deidentify": deidentify.available()}
        if rendered is not None and self.freshness is not None and isinstance(study, Study):  # series by SeriesNumber
            self.freshness.refresh(self.platform, record.record_id)
            found = rendered.indexed(self.platform, record.record_id, study.study_uid)
            context["series_numbers"] = found.series_numbers
        if self.platform.config.ohif_dist is not None and getattr(study, "study_uid", None):
            context["ohif"] = ohif.study_link(record.record_id, str(getattr(study, "study_uid", "")))
        return self._render(request, "viewer/study.html", context)

    def _image(self, request: Request) -> dict[str, Any]:
        """The page's context of image ``?image=K`` of series N (404 when there is none)."""
        visitor, record, study = self._readable(request)
        series = self._series(study, request.path_params["number"])
        count = len(series.images)
        index = _number(request.query_params.get("image"), 1)
        if not 1 <= index <= count:
            raise Refused(
                404,
                "No such image",
                f"Series {series.number} has {present.plural(count, 'image')}; there is no image {index}.",
            )
        image = series.images[index - 1]
        blob = study.blobs.get(image.name)
        return dict(
            visitor=visitor, record=record, study=study, series=series, image=image, index=index, count=count, blob=blob
        )

    def _image_page(
        self, request: Request, template: str, more: Callable[[Study, Any], dict[str, Any]] | None = None
    ) -> Response:
        context = self._image(request)
        if more is not None:
            context.update(more(context["study"], context["image"]))
        return self._render(request, template, context)

    def series(self, request: Request) -> Response:
        if rendered is None:
            return self._image_page(request, "viewer/series.html")
        record_id = _guid(request.path_params["record_id"]) or ""
        more = functools.partial(rendered.series_context, self.platform, self.freshness, record_id)
        response = self._image_page(request, "viewer/series.html", more)
        response.headers["Content-Security-Policy"] = page_csp(connect=True)  # paging asks for images' facts
        return response

    def frame(self, request: Request) -> Response:
        """A frame of image K of series N rendered by the server (rendered.py: ``?image=K&frame=F&window=C,W``)."""
        if rendered is None:
            raise Refused(404, "Frames cannot be shown", "Rendering frames needs the imaging extra on the server.")
        blob = self._image(request)["blob"]
        if blob is None:
            raise Refused(404, "No such image", "This study has no image of that name.")
        try:
            body, media = rendered.frame_bytes(self.platform, blob.blob_id, "this image", request.query_params)
        except DicomWebError as exc:
            raise Refused(exc.status, "Cannot show this frame", exc.message) from None
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type=media, headers=headers)

    def full_size(self, request: Request) -> Response:
        return self._image_page(request, "viewer/full.html")

    def tag_view(self, request: Request) -> Response:
        """The DICOM tags of image K of series N (``?image=K``)."""
        if dicom_tags is None:
            raise Refused(404, "Tags cannot be shown", "Reading DICOM tags needs the imaging extra on the server.")
        return self._image_page(request, "viewer/tags.html", functools.partial(dicom_tags.tags_context, self.platform))

    def xml(self, request: Request) -> Response:
        visitor, record, study = self._study(request)
        text = present.pretty_xml(self.studies.xml(study))
        context = {"visitor": visitor, "record": record, "study": study, "xml": text}
        return self._render(request, "viewer/xml.html", context)

    async def flags(self, request: Request) -> Response:
        """Set the person's flags of a study from the study page's form."""
        form = await request.form()
        if not from_this_site(self.platform, request) or not csrf_ok(self.platform, request, form.get(CSRF_FIELD)):
            return self._message(request, 403, "Not changed", "The form expired; reload the page and try again.")
        personal, hidden = form.get("personal") == "on", form.get("hidden-from-eprep") == "on"
        return await run_in_threadpool(
            self._page(functools.partial(self._set_flags, personal=personal, hidden=hidden)), request
        )

    def _set_flags(self, request: Request, personal: bool, hidden: bool) -> Response:
        visitor, record, study = self._study(request)
        if visitor.app_id is not None:
            raise Refused(
                403,
                "Sign in with your password",
                "A link an application gave you shows your studies; marking them personal needs your own sign-in.",
            )
        done = flagging.set_person_flags(
            self.platform, record.record_id, study.thing_id, visitor.person.person_id, personal, hidden, time.time()
        )
        if done is None:
            raise Refused(404, "No such study", "The record holds no study at this address (deleted, or never there).")
        return RedirectResponse(f"{VIEWER_PATH}/{record.record_id}/{study.thing_id}", status_code=303)

    def delete_page(self, request: Request) -> Response:
        visitor, record, study = self._study(request)
        return self._render(request, "viewer/delete.html", {"visitor": visitor, "record": record, "study": study})

    async def delete(self, request: Request) -> Response:
        """Delete a study, confirmed on its delete page (deleting.py)."""
        form = await request.form()
        if not from_this_site(self.platform, request) or not csrf_ok(self.platform, request, form.get(CSRF_FIELD)):
            return self._message(request, 403, "Not deleted", "The form expired; reload the page and try again.")
        stamp = str(form.get("version") or "")
        return await run_in_threadpool(self._page(functools.partial(self._delete, stamp=stamp)), request)

    def _delete(self, request: Request, stamp: str) -> Response:
        visitor, record, study = self._study(request)
        if visitor.app_id is not None:
            raise Refused(403, "Sign in with your password", "Deleting a study needs your own sign-in, not a link.")
        problem = deleting.delete_study(self.platform, record.record_id, study.thing_id, stamp, time.time())
        if problem:
            raise Refused(409, "Not deleted", problem)
        return RedirectResponse(f"{VIEWER_PATH}/{record.record_id}", status_code=303)

    def unknown(self, request: Request) -> Response:
        raise Refused(404, "Page not found", "The viewer has no page at this address.")

    # -- files ------------------------------------------------------------------------------------

    def _size_of(self, blob_id: str) -> int:
        try:
            return self.platform.files.size(blob_id)
        except FileNotFoundError:
            raise Refused(404, "Changed meanwhile", "The study changed while this was asked for; reload it.") from None

    def preview(self, request: Request) -> Response:
        _, _, study = self._readable(request)
        name = request.path_params["name"]
        blob = study.blobs.get(name)
        if blob is None or name not in study.previews:
            raise Refused(404, "No such preview", "This study has no preview of that name.")
        headers = {
            "ETag": f'"{blob.hash}"',
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SANDBOX,
        }
        # A preview is shown inline only as a raster image; whatever else an
        # application stored under a preview's name is only ever saved.
        kind = media_type(blob.content_type)
        if kind not in INLINE_IMAGES:
            kind = "application/octet-stream"
            headers.update(ATTACHMENT)
            headers["Content-Disposition"] = f'attachment; filename="{safe_part(name, "preview")}"'
        if blob.hash and request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        headers["Content-Length"] = str(self._size_of(blob.blob_id))
        return StreamingResponse(self.platform.files.read(blob.blob_id), media_type=kind, headers=headers)

    def image(self, request: Request) -> Response:
        _, _, study = self._readable(request)
        name = request.path_params["name"]
        blob = study.blobs.get(name)
        if blob is None or name not in study.image_names:
            raise Refused(404, "No such image", "This study has no image of that name.")
        headers = {
            "Content-Length": str(self._size_of(blob.blob_id)),
            **ATTACHMENT,
            "Content-Disposition": f'attachment; filename="{safe_part(name, "image")}.dcm"',
            "Cache-Control": "private, no-store",
        }
        return StreamingResponse(
            self.platform.files.read(blob.blob_id), media_type="application/dicom", headers=headers
        )

    def archive(self, request: Request) -> Response:
        _, _, study = self._readable(request)
        files = self.platform.files
        planned: list[tuple[str, str, int]] = []
        for series in study.series:
            folder = safe_part(series.uid or "", f"series-{series.number}")
            for image in series.images:
                blob = study.blobs.get(image.name)
                if blob is not None:
                    planned.append((f"{folder}/{safe_part(image.name, 'image')}.dcm", blob.blob_id, blob.size))
        for _, blob_id, _ in planned:
            self._size_of(blob_id)
        paths = unique_paths(p for p, _, _ in planned)
        entries = [
            Entry(path, size, functools.partial(files.read, blob_id))
            for path, (_, blob_id, size) in zip(paths, planned, strict=True)
        ]
        name = f"study-{safe_part(study.study_uid or '', study.thing_id)}.zip"
        headers = {
            **ATTACHMENT,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        }
        return StreamingResponse(zip_stream(entries), media_type="application/zip", headers=headers)

    def deidentified_archive(self, request: Request) -> Response:
        """The study's DICOM files de-identified (PS3.15 Annex E basic profile), as a ZIP."""
        _, _, study = self._readable(request)
        if not deidentify.available():
            raise Refused(
                404,
                "De-identification is not installed",
                "This server has no imaging extra (pip install 'hvgen[imaging]'); the plain download is available.",
            )
        return deidentify.archive_response(self.platform.files, study, self._size_of)
