"""Due times: hours on the clock, working days skipping weekends and bank holidays."""

from datetime import UTC, datetime

from app.models.vocabulary import Urgency
from app.rules.response_times import due_at, is_working_day

from .baseline import POLICY


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_emergency_is_one_hour_on_the_clock_even_at_the_weekend() -> None:
    saturday_night = utc(2026, 11, 28, 23, 30)
    assert due_at(POLICY, Urgency.EMERGENCY, saturday_night) == utc(2026, 11, 29, 0, 30)


def test_urgent_is_the_next_working_day_at_the_same_time() -> None:
    thursday = utc(2026, 11, 26, 10, 0)
    assert due_at(POLICY, Urgency.URGENT, thursday) == utc(2026, 11, 27, 10, 0)
    friday = utc(2026, 11, 27, 10, 0)
    assert due_at(POLICY, Urgency.URGENT, friday) == utc(2026, 11, 30, 10, 0)  # Monday


def test_routine_skips_the_weekend() -> None:
    wednesday = utc(2026, 11, 25, 9, 15)
    assert due_at(POLICY, Urgency.ROUTINE, wednesday) == utc(2026, 12, 2, 9, 15)


def test_a_request_made_at_the_weekend_counts_from_the_next_working_day() -> None:
    saturday = utc(2026, 11, 28, 14, 0)
    assert due_at(POLICY, Urgency.URGENT, saturday) == utc(2026, 11, 30, 14, 0)


def test_bank_holidays_are_skipped() -> None:
    assert not is_working_day(POLICY, datetime(2026, 12, 25).date())
    assert not is_working_day(POLICY, datetime(2026, 12, 28).date())  # Boxing Day substitute
    christmas_eve = utc(2026, 12, 24, 11, 0)
    # 25th and 28th are bank holidays, 26th-27th a weekend: the next working day is the 29th.
    assert due_at(POLICY, Urgency.URGENT, christmas_eve) == utc(2026, 12, 29, 11, 0)
    # Five working days from Christmas Eve: 29, 30, 31 Dec, (1 Jan holiday), 4, 5 Jan.
    assert due_at(POLICY, Urgency.ROUTINE, christmas_eve) == utc(2027, 1, 5, 11, 0)


def test_working_days_keep_london_wall_clock_time_across_the_clock_change() -> None:
    # Friday 23 Oct 2026 10:00 BST (09:00 UTC); British summer time ends on Sunday 25th.
    friday = utc(2026, 10, 23, 9, 0)
    assert due_at(POLICY, Urgency.URGENT, friday) == utc(2026, 10, 26, 10, 0)  # Monday 10:00 GMT
