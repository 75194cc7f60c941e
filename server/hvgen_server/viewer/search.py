"""The study list's search, sort and page as the browser asks for them: in
the address's query (``?patient=DOE*&from=2024-01-01&modality=CT&sort=date
&order=desc&page=2``), so that a list is bookmarkable and the back button
works. Patterns and dates mean what ``hvgen study list`` makes of them
(:mod:`hvgen_imaging.matching`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from hvgen_imaging.matching import BadQuery, StudyQuery, parse_day, sql_like

from ..store.rows import STUDY_SORTS, StudyListQuery

#: Query parameters of the search form, in the order of the address.
FIELDS = ("patient", "from", "to", "modality", "accession", "description")
#: The first order of each column when it is chosen (dates and counts: largest first).
FIRST_DESCENDING = {"date", "birth_date", "series", "images", "size"}
PAGE_SIZE = 50
#: Longest text a search field keeps.
MAX_FIELD = 200


@dataclass(frozen=True)
class Search:
    """What the address asks of the list, and what could not be read of it."""

    values: dict[str, str]
    sort: str = "date"
    descending: bool = True
    page: int = 1
    problem: str = ""
    query: StudyQuery = field(default_factory=StudyQuery)
    #: False: the server cannot search (the list is newest first, unsorted otherwise).
    searchable: bool = True

    @property
    def asked(self) -> bool:
        """Whether any search field is filled in."""
        return any(self.values.values())

    def store_query(self) -> StudyListQuery:
        q = self.query
        return StudyListQuery(
            patient=sql_like(q.patient) if q.patient else "",
            accession=sql_like(q.accession) if q.accession else "",
            description=sql_like(q.description) if q.description else "",
            date_from=q.date_from.strftime("%Y%m%d") if q.date_from else "",
            date_to=q.date_to.strftime("%Y%m%d") if q.date_to else "",
            modality=q.modality.strip().upper(),
            sort=self.sort,
            descending=self.descending,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
        )

    def url(self, **changes: str | int) -> str:
        """The address's query with ``changes`` (a new sort starts at page 1)."""
        params: dict[str, str | int] = {k: v for k, v in self.values.items() if v}
        if self.sort != "date" or not self.descending:
            params.update(sort=self.sort, order="desc" if self.descending else "asc")
        if self.page > 1:
            params["page"] = self.page
        params.update(changes)
        if params.get("sort") == "date" and params.get("order") == "desc":
            del params["sort"], params["order"]
        if params.get("page") == 1:
            del params["page"]
        return "?" + urlencode(params) if params else "?"

    def sort_url(self, column: str) -> str:
        """The address sorting by ``column`` (the other way round if it is the sort already)."""
        if column == self.sort:
            descending = not self.descending
        else:
            descending = column in FIRST_DESCENDING
        return self.url(sort=column, order="desc" if descending else "asc", page=1)

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def parse(params: Mapping[str, str]) -> Search:
    """The search an address's query asks for; what cannot be read is said in ``problem``."""
    values = {name: " ".join(params.get(name, "").split())[:MAX_FIELD] for name in FIELDS}
    sort = params.get("sort", "date")
    sort = sort if sort in STUDY_SORTS else "date"
    order = params.get("order", "")
    descending = order != "asc" if order in ("asc", "desc") else sort in FIRST_DESCENDING
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    try:
        query = StudyQuery(
            patient=values["patient"],
            date_from=parse_day(values["from"], "From"),
            date_to=parse_day(values["to"], "To"),
            modality=values["modality"],
            accession=values["accession"],
            description=values["description"],
        )
    except BadQuery as exc:
        return Search(values, sort, descending, page, problem=str(exc))
    return Search(values, sort, descending, page, query=query)
