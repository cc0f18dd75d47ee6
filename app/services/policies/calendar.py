"""The active policy's bank-holiday calendar: how long it runs, the warning before it ends,
and due times refused past its end.

A calendar ends on 31 December of the last year in which the policy lists a bank holiday
(`Policy.calendar_ends`). Within CALENDAR_WARNING_DAYS of that day GET /readyz reports
`degraded` and the service logs a warning (at most once an hour per process); past it, a
submission that would need a due time beyond the end is refused with a 503 and nothing is
recorded, until an admin activates a policy whose calendar runs further.
"""

import logging
import time
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.errors import CalendarRunOut
from app.models.vocabulary import Urgency
from app.rules import Policy, response_times
from app.rules.response_times import CalendarExhausted

log = logging.getLogger("caldicott.calendar")

CALENDAR_WARNING_DAYS = 90  # a quarter: time to publish, review and activate a policy with next year's holidays
WARN_EVERY_SECONDS = 3600.0  # a probe every few seconds must not fill the log with the same warning


class CalendarStatus(StrEnum):
    """Whether the active policy's bank-holiday calendar runs long enough to compute due times.

    - `ok`: it runs more than 90 days (CALENDAR_WARNING_DAYS) beyond today.
    - `degraded`: it ends within 90 days, or has ended: a referral whose due time falls past its end is refused
      with 503 until a policy with a longer calendar is activated.
    """

    OK = "ok"
    DEGRADED = "degraded"


class CalendarCheck(BaseModel):
    """How long the active policy's bank-holiday calendar runs."""

    status: CalendarStatus = Field(
        description="`ok`, or `degraded` when the calendar ends within 90 days or has ended."
    )
    policy: str = Field(description="The active policy's name and version")
    ends: date | None = Field(
        description="31 December of the last year the policy lists a bank holiday in; null when it lists none"
    )
    days_left: int | None = Field(description="Days from today (London) to `ends`; negative once it has passed")
    detail: str = Field(description="What the status means and what to do, in words.")


def calendar_check(policy: Policy, *, today: date) -> CalendarCheck:
    """Judge the policy's calendar on `today`: degraded when it ends within CALENDAR_WARNING_DAYS or has ended."""
    named, ends = f"{policy.name} {policy.version}", policy.calendar_ends
    if ends is None:
        detail = (
            f"policy {named} lists no bank holidays: due times in working days are refused; "
            "activate a policy with a bank-holiday calendar"
        )
        return CalendarCheck(status=CalendarStatus.DEGRADED, policy=named, ends=None, days_left=None, detail=detail)
    days_left = (ends - today).days
    if days_left > CALENDAR_WARNING_DAYS:
        return CalendarCheck(
            status=CalendarStatus.OK,
            policy=named,
            ends=ends,
            days_left=days_left,
            detail=f"the bank-holiday calendar runs to {ends}",
        )
    when = f"ended on {ends}" if days_left < 0 else f"ends on {ends}, in {days_left} days"
    detail = (
        f"the bank-holiday calendar of policy {named} {when}: due times past it are refused (503); an admin must "
        "activate a policy whose calendar runs further"
    )
    return CalendarCheck(status=CalendarStatus.DEGRADED, policy=named, ends=ends, days_left=days_left, detail=detail)


class CalendarWarnings:
    """Logs a degraded calendar's warning at most once every `every` seconds for each policy and end."""

    def __init__(self, *, every: float = WARN_EVERY_SECONDS):
        self.every = every
        self._last: dict[tuple[str, date | None], float] = {}

    def due(self, key: tuple[str, date | None]) -> bool:
        """Whether the message for this policy and end may be logged now (and, if so, that it is being)."""
        now = time.monotonic()
        if key in self._last and now - self._last[key] < self.every:
            return False
        self._last[key] = now
        return True

    def note(self, check: CalendarCheck) -> bool:
        """Log the warning if the calendar is degraded and it was not logged lately; whether it was logged."""
        if check.status is CalendarStatus.OK or not self.due((check.policy, check.ends)):
            return False
        log.warning("calendar: %s", check.detail)
        return True


_refusals = CalendarWarnings()  # refusals are logged as errors, as sparingly as the warnings


def due_at(policy: Policy, urgency: Urgency, start: datetime) -> datetime:
    """The response's due time (app/rules/response_times.py),
    or a 503 CalendarRunOut when it lies past the policy's calendar."""
    try:
        return response_times.due_at(policy, urgency, start)
    except CalendarExhausted as exhausted:
        if _refusals.due((f"{exhausted.policy_name} {exhausted.policy_version}", exhausted.ends)):
            log.error("calendar: a request needing a due time was refused: %s", exhausted)
        raise CalendarRunOut(f"{exhausted}; nothing was recorded: submit again once it has been activated") from None
