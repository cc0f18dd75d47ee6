"""A receiver's Retry-After header, read as RFC 9110 (section 10.2.3) defines it and nothing more.

`Retry-After = HTTP-date / delay-seconds`, and delay-seconds is `1*DIGIT` in ASCII. The receiver
chooses the value, so every other shape is ignored, and no value may hold a delivery back longer
than the retry schedule would.
"""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# ASCII only: str.isdigit() also accepts "²" and "١٢٠", which int() then refuses or misreads.
DELAY_SECONDS = re.compile(r"[0-9]+")
# Enough for any wait worth reading; int() refuses over 4,300 digits and timedelta() over 86 billion seconds.
MAX_DIGITS = 12


def parse(value: str | None, *, now: datetime, longest: timedelta) -> timedelta | None:
    """The wait asked for, between zero and `longest`; None when the value is neither delay-seconds nor an HTTP-date."""
    if value is None:
        return None
    value = value.strip(" \t")
    if DELAY_SECONDS.fullmatch(value):
        digits = value.lstrip("0") or "0"
        if len(digits) > MAX_DIGITS:
            return longest
        return min(timedelta(seconds=int(digits)), longest)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # the asctime form names no zone; every HTTP-date is in GMT
            when = when.replace(tzinfo=UTC)
        wait = when - now
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(wait, timedelta(0)), longest)
