"""When a guardian's answer is due: response times by urgency, counted in working days."""

from datetime import date, datetime, timedelta

from app.models.base import LONDON
from app.models.vocabulary import Urgency
from app.rules.policy import Policy, ResponseUnit


class CalendarExhausted(ValueError):
    """A working day asked about past the end of the policy's bank-holiday calendar,
    where it cannot tell a holiday from a working day."""

    def __init__(self, policy: Policy, day: date):
        self.policy_name, self.policy_version, self.ends, self.day = (
            policy.name,
            policy.version,
            policy.calendar_ends,
            day,
        )
        known = f"end on {self.ends.isoformat()}" if self.ends is not None else "list no dates"
        super().__init__(
            f"the bank holidays of policy {policy.name} {policy.version} {known}, so whether {day.isoformat()} is a "
            "working day is unknown; an admin must activate a policy whose bank-holiday calendar runs further"
        )


def is_working_day(policy: Policy, day: date) -> bool:
    """Monday to Friday, and not a bank holiday listed in the policy; CalendarExhausted past the end of its calendar."""
    ends = policy.calendar_ends
    if ends is None or day > ends:
        # Counting on would make every weekday a working day without a word: a due time too early, silently.
        raise CalendarExhausted(policy, day)
    return day.weekday() < 5 and day not in policy.bank_holidays


def due_at(policy: Policy, urgency: Urgency, start: datetime) -> datetime:
    """The time a response to a request referred at `start` is due.

    Hours run on the clock (an emergency does not wait for Monday); working days
    keep the time of day and skip weekends and bank holidays, counted in London.
    Working days that run past the end of the policy's calendar raise CalendarExhausted.
    """
    response = policy.response_times[urgency]
    if response.unit is ResponseUnit.HOURS:
        return start + timedelta(hours=response.amount)
    local = start.astimezone(LONDON)
    day, counted = local.date(), 0
    while counted < response.amount:
        day += timedelta(days=1)
        counted += is_working_day(policy, day)
    # Rebuild the wall-clock time on the due day, so a change to or from summer time keeps 10:00 at 10:00.
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=LONDON).astimezone(start.tzinfo)
