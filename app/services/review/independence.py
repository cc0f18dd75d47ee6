"""Who may not decide a reconsideration: everyone who took part in the decision reconsidered.

That is the guardian who made it (for a panel's decision, its chair), every member of the panel that made it
(whether they voted, abstained or withdrew), and every guardian whose second opinion it weighed. The rules'
decisions were made by no one. Guardians are known here by their `sub`, as a decision's `decided_by` names them.
"""

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import Forbidden
from app.models.opinion import Opinion
from app.models.panel import Panel, PanelMember
from app.models.reconsideration import Reconsideration
from app.models.sharing_request import Decision, SharingRequest
from app.models.vocabulary import DecisionKind
from app.principal import Principal

MADE_IT = "a decision is reconsidered by a guardian other than the one who made it"
SAT_ON_ITS_PANEL = (
    "a panel's decision is reconsidered by a guardian who did not sit on that panel: you were one of its members"
)
GAVE_AN_OPINION = "a decision is reconsidered by a guardian whose second opinion it did not weigh: it weighed yours"


async def check_independent(*, session: AsyncSession, request: SharingRequest, actor: Principal) -> None:
    """A 403 for anyone who took part in the decision under reconsideration, saying how they took part."""
    pending = select(Reconsideration.decision_id).where(
        col(Reconsideration.request_id) == request.id, col(Reconsideration.outcome).is_(None)
    )
    made = select(Decision.decided_by).where(col(Decision.id).in_(pending), col(Decision.kind) != DecisionKind.RULES)
    if actor.sub in (await session.exec(made)).all():
        raise Forbidden(MADE_IT)
    sat = (
        select(PanelMember.sub)
        .join(Panel, col(Panel.id) == col(PanelMember.panel_id))
        .where(col(Panel.decision_id).in_(pending))
    )
    if actor.sub in (await session.exec(sat)).all():
        raise Forbidden(SAT_ON_ITS_PANEL)
    advised = select(Opinion.given_by).where(col(Opinion.decision_id).in_(pending))
    if actor.sub in (await session.exec(advised)).all():
        raise Forbidden(GAVE_AN_OPINION)
