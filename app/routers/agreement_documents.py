"""An agreement's documents: the signed copy and the DPIA behind it, kept beside the agreement's record."""

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse

from app.errors import INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import AttachmentStoreDep, PageCursor, PageLimit, PathName, SettingsDep
from app.http.idempotency import IdempotentRoute
from app.http.multipart import body_reader
from app.http.roles import AdminPrincipal, OverseerPrincipal
from app.http.session import SessionDep
from app.models.attachment import AttachmentPage, AttachmentPublic
from app.routers.attachments import DOWNLOAD_OK, UPLOAD_FORM, streamed
from app.services.agreements import documents as agreement_documents
from app.services.agreements import register as agreements
from app.services.attachments import uploads as attachments

router = APIRouter(prefix="/v1/sharing-agreements/{code}/attachments", tags=["Registers"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

NOT_FOUND = INVALID_INPUT | {404: problem_doc("No such agreement")}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Keep an agreement's signed copy or its DPIA (admin)",
    description=(
        "`multipart/form-data` with `kind` (`agreement` for the signed copy, or `dpia`) and `file`, taken as the "
        "attachments of a request are: read as a stream, recognised by content, at most "
        "CALDICOTT_ATTACHMENT_MAX_BYTES, stored once per SHA-256, and the hash recorded in the audit trail. Name it as "
        "the agreement's `signed_attachment` with a PATCH of the agreement, which makes a new version. An agreement's "
        "documents are kept as long as the agreement."
    ),
    openapi_extra=UPLOAD_FORM,
    responses=NOT_FOUND
    | {
        201: {
            "description": "The document as recorded",
            "headers": {"Location": {"description": "Where to download it", "schema": {"type": "string"}}},
        },
        400: problem_doc("The body is not well-formed multipart/form-data, or ended early"),
        413: problem_doc("The file is larger than CALDICOTT_ATTACHMENT_MAX_BYTES"),
        415: problem_doc(
            "The body is not multipart/form-data, or the file is not a PDF, PNG, "
            "JPEG or UTF-8 plain text (`errors` names `file`)"
        ),
        422: problem_doc(
            "`kind` is missing or is not `agreement` or `dpia`, `file` is missing or empty, "
            "or a field is unknown (`errors` names it)"
        ),
    },
)
async def upload_document(
    code: PathName,
    http: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    store: AttachmentStoreDep,
    admin: AdminPrincipal,
) -> AttachmentPublic:
    await agreements.get(session=session, code=code)
    async with attachments.receive(
        body_reader(http, max_file_bytes=settings.attachment_max_bytes), session=session, store=store
    ) as received:
        row = await agreement_documents.record(session=session, principal=admin, code=code, received=received)
    public = AttachmentPublic.of(row)
    response.headers["Location"] = public.download
    return public


@router.get("", summary="An agreement's documents, oldest first", responses=NOT_FOUND)
async def list_documents(
    code: PathName,
    session: SessionDep,
    _: OverseerPrincipal,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> AttachmentPage:
    await agreements.get(session=session, code=code)
    return await attachments.list_page(
        session=session, owner=attachments.of_agreement(code), cursor=cursor, limit=limit
    )


@router.get(
    "/{attachment_id}",
    summary="Download one of an agreement's documents; each download is recorded in the audit trail",
    response_class=StreamingResponse,
    responses=NOT_FOUND | {200: DOWNLOAD_OK, 404: problem_doc("No such agreement, or no such document of it")},
)
async def download_document(
    code: PathName,
    attachment_id: PathName,
    session: SessionDep,
    store: AttachmentStoreDep,
    principal: OverseerPrincipal,
) -> StreamingResponse:
    return streamed(
        await agreement_documents.download(
            session=session, store=store, principal=principal, code=code, attachment_id=attachment_id
        )
    )
