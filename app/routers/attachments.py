"""Evidence for a sharing request: the paper a guardian decides on (a court order,
a police request form, a DPIA, a consent form)."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import StreamingResponse

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import AttachmentStoreDep, CurrentRequest, PageCursor, PageLimit, PathName, SettingsDep
from app.http.etags import ETAG_HEADER, STALE, RequestToChange, tagged
from app.http.idempotency import IdempotentRoute
from app.http.multipart import body_reader
from app.http.roles import GuardianPrincipal, ReaderPrincipal, require_roles
from app.http.session import SessionDep
from app.models.attachment import MAX_DESCRIPTION_CHARS, Attachment, AttachmentPage, AttachmentPublic, MediaType
from app.models.verification import VerificationBody
from app.models.vocabulary import AttachmentKind, Role
from app.principal import Principal
from app.services.attachments import quotas as attachment_quotas
from app.services.attachments import uploads as attachments
from app.services.attachments import verifications as attachment_verifications

router = APIRouter(tags=["Evidence"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

UploaderPrincipal = Annotated[Principal, Depends(require_roles(Role.AGENCY, Role.GUARDIAN))]
NOT_FOUND = INVALID_INPUT | {404: problem_doc("No such request, or it belongs to another agency")}
EXTENSIONS = {MediaType.PDF: ".pdf", MediaType.PNG: ".png", MediaType.JPEG: ".jpg", MediaType.TEXT: ".txt"}

UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["kind", "file"],
                    "properties": {
                        # The vocabulary's own schema, so each kind is described once, with its values.
                        "kind": {
                            "$ref": f"#/components/schemas/{AttachmentKind.__name__}",
                            "description": "What the evidence is",
                        },
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The file: a PDF, PNG, JPEG or UTF-8 plain text, recognised by its content "
                            "(its name and Content-Type are not trusted)",
                        },
                        "description": {
                            "type": "string",
                            "maxLength": MAX_DESCRIPTION_CHARS,
                            "description": "What the file shows, if the kind does not say",
                        },
                    },
                    "additionalProperties": False,
                    "examples": [
                        {
                            "kind": "court_order",
                            "description": "Sealed order of the family court, case ZW26C00123",
                            "file": "(the PDF's bytes)",
                        }
                    ],
                }
            }
        },
    }
}


DOWNLOAD_OK: dict[str, Any] = {
    "description": "The content, as it was uploaded",
    "content": {str(media_type): {"schema": {"type": "string", "format": "binary"}} for media_type in MediaType},
    "headers": {
        "ETag": {
            "description": "The content's SHA-256 in hex, quoted (a strong validator)",
            "schema": {"type": "string"},
        },
        "Content-Disposition": {"description": "`attachment`, with the file's name", "schema": {"type": "string"}},
        "X-Content-Type-Options": {"description": "`nosniff`", "schema": {"type": "string"}},
    },
}


@router.post(
    "/v1/sharing-requests/{request_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    summary="Attach evidence to a sharing request (the requesting agency or a guardian)",
    description=(
        "Send `multipart/form-data` with `kind` and `file` (and optionally `description`). The body is read as a "
        "stream and the file stored as it arrives, at most CALDICOTT_ATTACHMENT_MAX_BYTES (10 MiB by default); the "
        "body limit of other routes does not apply. The content is recognised by its first bytes: a PDF, PNG, JPEG, or "
        "UTF-8 text without control characters but tab, CR and LF; anything else (an executable named `.pdf`, say) is "
        "refused with 415. Identical content is stored once. The upload's audit event names the content's SHA-256, and "
        "subscribers to `sharing_request.attachment_added` hear of it. The request's `ETag` changes. The `kind` files "
        "the attachment, nothing more: it counts in the rules only once a guardian has verified it "
        "(`POST .../attachments/{attachment_id}/verifications`). Nothing is ever deleted by the API; the content is "
        "removed when its retention ends (`caldicott attachments purge`). Uploads are a rate class of their own "
        "(`uploads`, CALDICOTT_RATE_LIMIT_UPLOADS_QUOTA). A request holds at most CALDICOTT_ATTACHMENTS_PER_REQUEST "
        "attachments (20) and CALDICOTT_ATTACHMENT_BYTES_PER_REQUEST bytes of them in all (50 MiB): beyond, 409 "
        "`attachment-quota`. An organisation attaches at most CALDICOTT_ATTACHMENT_BYTES_PER_ORG_PER_DAY bytes of "
        "evidence a day, midnight to midnight in London (500 MiB): beyond, 429 `attachment-day-quota` with "
        "`Retry-After` at midnight. A refused upload keeps nothing; a caller already at a limit is refused before its "
        "body is read."
    ),
    openapi_extra=UPLOAD_FORM,
    responses=NOT_FOUND
    | {
        201: {
            "description": "The attachment as recorded",
            "headers": {"Location": {"description": "Where to download the content", "schema": {"type": "string"}}},
        },
        400: problem_doc("The body is not well-formed multipart/form-data, or ended early"),
        403: problem_doc("Only the requesting agency or a guardian may attach evidence"),
        409: problem_doc(
            "The request holds CALDICOTT_ATTACHMENTS_PER_REQUEST attachments already, or this file would take their "
            "bytes past CALDICOTT_ATTACHMENT_BYTES_PER_REQUEST (`quota`, `quota_limit` and `quota_used` say which "
            "and how much)"
        ),
        413: problem_doc(
            "The file is larger than CALDICOTT_ATTACHMENT_MAX_BYTES: this body alone is too large, whatever the "
            "request holds"
        ),
        415: problem_doc(
            "The body is not multipart/form-data, or the file is not a PDF, PNG, "
            "JPEG or UTF-8 plain text (`errors` names `file`)"
        ),
        422: problem_doc(
            "`kind` or `file` is missing, `kind` is not one of the kinds, the file is empty, "
            "or a field is unknown (`errors` names it)"
        ),
        429: PROBLEM_RESPONSES[429]
        | {
            "description": "The organisation has used its `uploads` rate quota (`rate-limited`), or this file would "
            "take the evidence it attached today past CALDICOTT_ATTACHMENT_BYTES_PER_ORG_PER_DAY "
            "(`attachment-day-quota`; `Retry-After` is midnight in London)"
        },
    },
)
async def upload_attachment(
    http: Request,
    sharing_request: CurrentRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    store: AttachmentStoreDep,
    principal: UploaderPrincipal,
) -> AttachmentPublic:
    attachments.check_uploader(principal, sharing_request)
    limits = attachment_quotas.limits_from(settings)
    await attachments.check_room(session=session, principal=principal, request=sharing_request, limits=limits)
    async with attachments.receive(
        body_reader(http, max_file_bytes=settings.attachment_max_bytes), session=session, store=store
    ) as received:
        row = await attachments.record_for_request(
            session=session, principal=principal, request=sharing_request, received=received, limits=limits
        )
    public = AttachmentPublic.of(row)
    response.headers["Location"] = public.download
    return public


@router.get(
    "/v1/sharing-requests/{request_id}/attachments",
    summary="The evidence attached to a sharing request, oldest first (purged ones included, with `purged_at`)",
    responses=NOT_FOUND,
)
async def list_attachments(
    sharing_request: CurrentRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: ReaderPrincipal,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> AttachmentPage:
    return await attachments.list_for_request(
        session=session,
        principal=principal,
        request=sharing_request,
        controller=settings.controller_org,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/v1/sharing-requests/{request_id}/attachments/{attachment_id}",
    summary="Download an attachment's content; each download is recorded in the audit trail",
    response_class=StreamingResponse,
    responses=NOT_FOUND
    | {
        200: DOWNLOAD_OK,
        404: problem_doc("No such request or attachment, or the request belongs to another agency"),
        410: problem_doc(
            "The content was removed when its retention ended; the record and its SHA-256 remain in the list"
        ),
    },
)
async def download_attachment(
    sharing_request: CurrentRequest,
    attachment_id: PathName,
    session: SessionDep,
    store: AttachmentStoreDep,
    principal: ReaderPrincipal,
) -> StreamingResponse:
    return streamed(
        await attachments.download_for_request(
            session=session, store=store, principal=principal, request=sharing_request, attachment_id=attachment_id
        )
    )


@router.post(
    "/v1/sharing-requests/{request_id}/attachments/{attachment_id}/verifications",
    status_code=status.HTTP_201_CREATED,
    summary="Record a guardian's verification of a request's evidence: only verified evidence counts in the rules",
    description=(
        "A Caldicott Guardian who is not of the requesting organisation records what they checked and whether the "
        "attachment is what it claims to be (`verified`) or not (`rejected`); the service adds who (the token's "
        "subject), their organisation and role, and when. For evidence of kind `court_order` (an order, summons or "
        "notice) `order` is required, with the items the guardian checked; one that fails any of them is recorded "
        "`rejected` (a `verified` one that does not pass them is refused with 422). Verifications are never edited: a "
        "mistaken one is followed by another, and the latest counts. The rules weigh the attachment when the request "
        "is next evaluated (an amendment). Audited, shown in the request's history, announced as "
        "`sharing_request.evidence_verified`; the request's `ETag` changes (If-Match, when sent, must name the current "
        "one). The answer is the attachment with its verification."
    ),
    responses=NOT_FOUND
    | STALE
    | BODY_PROBLEMS
    | {
        201: {
            "description": "Recorded: the attachment with this verification; `ETag` is the request's new one",
            "headers": ETAG_HEADER
            | {
                "Location": {
                    "description": "The request's attachments, which show each one's latest verification",
                    "schema": {"type": "string"},
                }
            },
        },
        403: problem_doc("Only a guardian verifies evidence, and not one of the requesting organisation"),
        404: problem_doc("No such request or attachment, or the request belongs to another agency"),
        410: problem_doc(
            "The attachment's content was removed when its retention ended: there is nothing left to verify"
        ),
    },
)
async def verify_attachment(
    sharing_request: RequestToChange,
    attachment_id: PathName,
    body: VerificationBody,
    response: Response,
    session: SessionDep,
    principal: GuardianPrincipal,
) -> AttachmentPublic:
    verification = await attachment_verifications.verify(
        session=session, principal=principal, request=sharing_request, attachment_id=attachment_id, body=body
    )
    row = await session.get(Attachment, attachment_id)
    assert row is not None
    tagged(response, sharing_request)
    response.headers["Location"] = f"/v1/sharing-requests/{sharing_request.id}/attachments"
    return AttachmentPublic.of(row, verification)


def streamed(found: attachments.Download) -> StreamingResponse:
    """An attachment's content as the answer to a download,
    with headers that keep a browser from running or caching it."""
    row = found.attachment
    headers = {
        "Content-Length": str(row.size),
        "Content-Disposition": content_disposition(row),
        "ETag": f'"{row.sha256}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    media_type = f"{row.media_type}; charset=utf-8" if row.media_type == MediaType.TEXT else str(row.media_type)
    return StreamingResponse(found.chunks, media_type=media_type, headers=headers)


def content_disposition(row: Attachment) -> str:
    """`attachment` with the file's name:
    an ASCII fallback, and the name itself percent-encoded as UTF-8 (RFC 6266, RFC 8187)."""
    name = row.filename or f"{row.kind}-{row.id[:8]}{EXTENSIONS[row.media_type]}"
    fallback = "".join(char if " " <= char <= "~" and char not in '"\\%' else "_" for char in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
