"""FHIR dates as ranges: every date, dateTime or instant stands for the interval its precision implies.

``2024`` is all of 2024, ``2024-03-05`` that day, ``2024-03-05T10:00:00Z`` that
second. Both stored values and search values become half-open UTC ranges
``[lo, hi)`` so that the R4 prefix rules (which compare ranges) are plain
comparisons MongoDB can answer from an index.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

MIN = datetime(1, 1, 1, tzinfo=UTC)
MAX = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?)?(?P<tz>Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


def _ms(dt: datetime) -> datetime:
    """Truncate to the millisecond, the precision of a BSON date."""
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


@lru_cache(maxsize=8192)
def date_range(value: str) -> tuple[datetime, datetime] | None:
    """The half-open UTC range of a FHIR date/dateTime/instant, or ``None`` if it is not one.

    A time without a zone is read as UTC (the spec leaves the choice to the server). Cached
    (bounded): the same instants repeat across a patient's resources (an encounter's time in
    each of its observations), and the result, immutable datetimes, depends on the text alone.
    """
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    try:
        year = int(m["y"])
        if year < 1:
            return None
        if m["m"] is None:
            start = datetime(year, 1, 1, tzinfo=UTC)
            end = start.replace(year=year + 1) if year < 9999 else MAX
            return start, end
        month = int(m["m"])
        if m["d"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            if month == 12:
                end = start.replace(year=year + 1, month=1) if year < 9999 else MAX
            else:
                end = start.replace(month=month + 1)
            return start, end
        day = int(m["d"])
        if m["H"] is None:
            start = datetime(year, month, day, tzinfo=UTC)
            return start, min(start + timedelta(days=1), MAX) if year < 9999 else MAX
        tz: timezone = UTC
        if m["tz"] and m["tz"] != "Z":
            raw = m["tz"].replace(":", "")
            sign = 1 if raw[0] == "+" else -1
            tz = timezone(timedelta(minutes=sign * (int(raw[1:3]) * 60 + int(raw[3:5]))))
        frac = m["f"] or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        start = datetime(year, month, day, int(m["H"]), int(m["M"] or 0), int(m["S"] or 0), micro, tzinfo=tz)
        if m["M"] is None:
            step = timedelta(hours=1)
        elif m["S"] is None:
            step = timedelta(minutes=1)
        elif not frac:
            step = timedelta(seconds=1)
        else:
            step = timedelta(milliseconds=1)
        lo = _ms(start.astimezone(UTC))
        try:
            hi = _ms((start + step).astimezone(UTC))
        except OverflowError:
            hi = MAX
        return lo, max(hi, lo + timedelta(milliseconds=1))
    except (ValueError, OverflowError):
        return None


def period_range(period: dict) -> tuple[datetime, datetime] | None:
    """A Period as one range: a missing start or end is open (the spec's "unknown" bound)."""
    start = period.get("start")
    end = period.get("end")
    lo_range = date_range(start) if isinstance(start, str) else None
    hi_range = date_range(end) if isinstance(end, str) else None
    if lo_range is None and hi_range is None:
        return None
    lo = lo_range[0] if lo_range else MIN
    hi = hi_range[1] if hi_range else MAX
    return lo, max(hi, lo)
