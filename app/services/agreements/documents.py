"""An agreement's documents (its signed copy, its DPIA):
uploaded by an admin, read by whoever may read agreements, each act audited."""

from sqlmodel.ext.asyncio.session import AsyncSession

from app.errors import InvalidInput
from app.models.actions import AdminAction
from app.models.attachment import Attachment
from app.models.vocabulary import AttachmentKind
from app.principal import Principal
from app.services.attachments import uploads as attachments
from app.services.attachments.store import Store
from app.services.audit import events

DOCUMENT_KINDS = frozenset({AttachmentKind.AGREEMENT, AttachmentKind.DPIA})


async def record(
    *, session: AsyncSession, principal: Principal, code: str, received: attachments.Received
) -> Attachment:
    """Keep the received document under the agreement; 422 naming `kind` for evidence that belongs on a request."""
    if received.kind not in DOCUMENT_KINDS:
        raise InvalidInput(
            "kind", f"an agreement keeps its signed copy or its DPIA: {', '.join(sorted(DOCUMENT_KINDS))}"
        )
    row = await attachments.record(session=session, principal=principal, received=received, agreement_code=code)
    await events.agreement_document(
        session=session, actor=principal, action=AdminAction.AGREEMENT_DOCUMENT_ADDED, code=code, sha256=received.sha256
    )
    return row


async def download(
    *, session: AsyncSession, store: Store, principal: Principal, code: str, attachment_id: str
) -> attachments.Download:
    """One of the agreement's documents, its download recorded as an audited read."""
    found = await attachments.download(
        session=session, store=store, owner=attachments.of_agreement(code), attachment_id=attachment_id
    )
    await events.agreement_document(
        session=session,
        actor=principal,
        action=AdminAction.AGREEMENT_DOCUMENT_READ,
        code=code,
        sha256=found.attachment.sha256,
    )
    return found
