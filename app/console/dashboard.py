"""The dashboard: how the guardian queue is doing. The review metrics the API reports (GET /v1/reports/review-metrics)
for a period the person chooses, and the queue now by urgency, drawn as a chart on the server (an SVG with a table
of the same numbers beside it), so the page needs no script."""

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.errors import InvalidInput
from app.http.session import SessionDep
from app.models.base import utcnow
from app.models.vocabulary import GuardianOutcome, RetrospectiveOutcome, Role, Urgency
from app.services.review import metrics as review_metrics
from app.services.review.queue_status import QueueCounts, counts_by_urgency

from .auth import ConsoleUser, require
from .pages import render

if TYPE_CHECKING:
    from app.models.report import ReviewMetrics

router = APIRouter(include_in_schema=False)

# As the API's review metrics (GuardianOrAuditor); the header's link (app/console/pages.py) names the same roles.
ROLES = frozenset({Role.GUARDIAN, Role.AUDITOR})
DashboardUser = Annotated[ConsoleUser, Depends(require(*ROLES))]

URGENCIES = (Urgency.EMERGENCY, Urgency.URGENT, Urgency.ROUTINE)  # most urgent first, as the queue is read
URGENCY_TEXT = {Urgency.EMERGENCY: "Emergency", Urgency.URGENT: "Urgent", Urgency.ROUTINE: "Routine"}
OUTCOME_TEXT = {
    GuardianOutcome.APPROVE: "Approved",
    GuardianOutcome.APPROVE_WITH_CONDITIONS: "Approved with conditions",
    GuardianOutcome.REFUSE: "Refused",
    GuardianOutcome.REQUEST_INFORMATION: "Asked for more information",
}
VERDICT_TEXT = {RetrospectiveOutcome.UPHELD: "Upheld", RetrospectiveOutcome.NOT_UPHELD: "Not upheld"}
PERIOD_TEXT = {"from": "Start date", "to": "End date"}


class PeriodError(ValueError):
    """A date of the period that cannot be read: which one, and what to tell the person."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def date_part(name: str, part: str) -> Any:  # noqa: ANN401 (a Query, as FastAPI's own factory returns)
    """One box of an NHS.UK date input, sent as `from-day`, `to-year`, and so on."""
    return Query(alias=f"{name}-{part}", max_length=4)


@dataclass(frozen=True, slots=True)
class DateField:
    """One date input as sent: blank for the API's default, or a whole real date."""

    name: str
    day: str = ""
    month: str = ""
    year: str = ""

    def value(self) -> date | None:
        """The date, None when all three boxes were left blank, or a PeriodError saying what is wrong."""
        parts = (self.day.strip(), self.month.strip(), self.year.strip())
        if not any(parts):
            return None
        label = PERIOD_TEXT[self.name]
        if not all(part.isdigit() for part in parts):
            raise PeriodError(self.name, f"{label} must be a real date, with a day, month and year in numbers")
        try:
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            raise PeriodError(self.name, f"{label} must be a real date") from None


@dataclass(frozen=True, slots=True)
class PeriodFields:
    start: DateField
    end: DateField


def period_fields(
    from_day: Annotated[str, date_part("from", "day")] = "",
    from_month: Annotated[str, date_part("from", "month")] = "",
    from_year: Annotated[str, date_part("from", "year")] = "",
    to_day: Annotated[str, date_part("to", "day")] = "",
    to_month: Annotated[str, date_part("to", "month")] = "",
    to_year: Annotated[str, date_part("to", "year")] = "",
) -> PeriodFields:
    """The period's two date inputs, as the GET form sent them."""
    return PeriodFields(DateField("from", from_day, from_month, from_year), DateField("to", to_day, to_month, to_year))


@dataclass(frozen=True, slots=True)
class ChartRow:
    """One urgency's bar: how many wait, and the part of them overdue, with where they are drawn."""

    label: str
    waiting: int
    overdue: int
    y: int
    waiting_width: float
    overdue_width: float


@dataclass(frozen=True, slots=True)
class QueueChart:
    rows: list[ChartRow]
    width: int
    height: int
    bar_x: int
    bar_height: int
    description: str


CHART_WIDTH, LABEL_WIDTH, BAR_SPACE, ROW_HEIGHT, BAR_HEIGHT = 640, 110, 330, 40, 24


def queue_chart(counts: dict[Urgency, QueueCounts]) -> QueueChart:
    """The queue now as horizontal bars, one per urgency, each with its overdue part; the bars are scaled to the
    longest, so an empty queue draws none."""
    longest = max(count.depth for count in counts.values()) or 1
    rows = [
        ChartRow(
            label=URGENCY_TEXT[urgency],
            waiting=counts[urgency].depth,
            overdue=counts[urgency].overdue,
            y=index * ROW_HEIGHT,
            waiting_width=round(BAR_SPACE * counts[urgency].depth / longest, 1),
            overdue_width=round(BAR_SPACE * counts[urgency].overdue / longest, 1),
        )
        for index, urgency in enumerate(URGENCIES)
    ]
    description = "Requests in the queue now: " + "; ".join(
        f"{row.label.lower()} {row.waiting}, of which {row.overdue} overdue" for row in rows
    )
    return QueueChart(
        rows=rows,
        width=CHART_WIDTH,
        height=ROW_HEIGHT * len(rows),
        bar_x=LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        description=description,
    )


def duration_text(seconds: float | None) -> str:
    """A response time as a person reads it: minutes, hours or days."""
    if seconds is None:
        return "None decided"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


def percent_text(rate: float | None) -> str:
    """A rate as a percentage; the API's null (nothing to count) in words."""
    return "None to count" if rate is None else f"{rate * 100:.0f}%"


def period_errors(problem: InvalidInput) -> dict[str, str]:
    """The service's refusal of a period, in words, by the date input at fault."""
    return {
        error.field: f"{PERIOD_TEXT.get(error.field, 'The period')} {error.message.replace('`from`', 'the start date')}"
        for error in problem.errors or []
    }


def input_values(field: DateField, shown: date | None) -> dict[str, str]:
    """What a date input shows: what was sent, or the date the API took when it was left blank."""
    if shown is not None and not (field.day or field.month or field.year):
        return {"day": str(shown.day), "month": str(shown.month), "year": str(shown.year)}
    return {"day": field.day, "month": field.month, "year": field.year}


@router.get("/console/dashboard")
async def dashboard(
    request: Request, db: SessionDep, user: DashboardUser, period: Annotated[PeriodFields, Depends(period_fields)]
) -> Response:
    errors: dict[str, str] = {}  # by date input: "from" or "to"
    metrics: ReviewMetrics | None = None
    try:
        first, last = period.start.value(), period.end.value()
        metrics = await review_metrics.review_metrics(session=db, period_from=first, period_to=last)
    except PeriodError as error:
        errors = {error.field: str(error)}
    except InvalidInput as problem:
        errors = period_errors(problem)
    queue = await counts_by_urgency(session=db, now=utcnow())
    return render(
        request,
        "dashboard.jinja",
        status_code=400 if errors else 200,
        errors=errors,
        error_summary=[{"text": text, "href": f"#{field}-day"} for field, text in errors.items()],
        metrics=metrics,
        start=input_values(period.start, metrics.period_from if metrics else None),
        end=input_values(period.end, metrics.period_to if metrics else None),
        queue=queue,
        chart=queue_chart(queue),
        urgencies=URGENCIES,
        urgency_text=URGENCY_TEXT,
        outcome_text=OUTCOME_TEXT,
        verdict_text=VERDICT_TEXT,
        duration=duration_text,
        percent=percent_text,
    )
