"""Times as the platform writes them, and back."""

from __future__ import annotations

import datetime as dt
from typing import Any


def iso(ts: float) -> str:
    """An epoch time as xs:dateTime in UTC with milliseconds and Z."""
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def timestamp(value: Any) -> float:
    """Epoch seconds of an xs:dateTime value (UTC when it has no zone)."""
    moment: dt.datetime = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return float(moment.timestamp())
