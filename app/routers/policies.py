"""Policy versions: list and read them, upload a derived one, activate one,
and replay stored decisions under a candidate."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from app.errors import BODY_PROBLEMS, INVALID_INPUT, PROBLEM_RESPONSES, problem_doc
from app.http.dependencies import PageCursor, PageLimit, PathName, RegistryDep, SettingsDep
from app.http.etags import STALE
from app.http.idempotency import IdempotentRoute
from app.http.locations import created
from app.http.negotiation import choose
from app.http.roles import AdminPrincipal, PolicyReviewer, ReaderPrincipal
from app.http.session import SessionDep
from app.models.policy import PolicyList, PolicyPublic, ReplayChangePage, ReplayCriteria, ReplayPage, ReplayPublic
from app.services.policies import registry as policies
from app.services.policies import replay

router = APIRouter(tags=["Policies"], responses=PROBLEM_RESPONSES)
router.route_class = IdempotentRoute  # every POST that changes something takes an Idempotency-Key

ACTIVATION_ETAG = {
    "ETag": {
        "description": "Which activation is current, for If-Match on the next activation",
        "schema": {"type": "string"},
    }
}
ACTIVATION_IF_MATCH = (
    "The `ETag` of GET /v1/policies as last read (or `*`): "
    "if another activation was made since, a 412 and nothing changes"
)

NO_POLICY = INVALID_INPUT | {404: problem_doc("No such policy")}
DOCUMENT = {
    "description": "The policy document: as JSON, or as YAML with `Accept: application/yaml`; "
    "in the form it was given in, byte for byte",
    "content": {"application/json": {"schema": {"type": "object"}}, "application/yaml": {"schema": {"type": "string"}}},
    "headers": {"ETag": {"description": "The policy's content hash", "schema": {"type": "string"}}},
}
UPLOAD = {
    "requestBody": {
        "required": True,
        "description": "A policy derived from a shipped baseline (`derived_from: "
        "{name, version}`), in the shape of the baseline's YAML",
        "content": {
            "application/json": {"schema": {"type": "object", "examples": [policies.derived_example()]}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/v1/policies",
    summary="The policies held, by name and version: shipped baselines and derived policies, and which is active",
    responses=INVALID_INPUT | {200: {"description": "The policies held", "headers": ACTIVATION_ETAG}},
)
async def list_policies(
    response: Response,
    session: SessionDep,
    registry: RegistryDep,
    _: ReaderPrincipal,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> PolicyList:
    page, etag = await policies.list_page(session=session, registry=registry, cursor=cursor, limit=limit)
    response.headers["ETag"] = etag
    return page


@router.get(
    "/v1/policies/{name}/{version}",
    summary="One policy's document",
    response_class=Response,
    responses=NO_POLICY | {200: DOCUMENT},
)
async def get_policy(
    name: PathName,
    version: PathName,
    session: SessionDep,
    registry: RegistryDep,
    _: ReaderPrincipal,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    wanted = choose(accept, (policies.JSON, policies.YAML)) or policies.JSON  # JSON unless YAML is liked better
    content, media_type = await policies.document(
        session=session, registry=registry, name=name, version=version, media_type=wanted
    )
    policy = await registry.get(session=session, name=name, version=version)
    return Response(content, media_type=media_type, headers={"ETag": f'"{policy.content_hash}"'})


@router.post(
    "/v1/policies",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a derived policy; it is validated as strictly as the shipped ones and never changes",
    openapi_extra=UPLOAD,
    responses=BODY_PROBLEMS
    | created("The policy as uploaded", "The policy document's URL (it is also sent with a 200)")
    | {
        200: {"description": "The same policy, with the same content, was already held", "model": PolicyPublic},
        409: problem_doc("A shipped baseline, or a held policy with the same name and version but other content"),
    },
)
async def upload_policy(
    http: Request, response: Response, session: SessionDep, registry: RegistryDep, admin: AdminPrincipal
) -> PolicyPublic:
    media_type = (http.headers.get("content-type") or "").split(";")[0].strip().lower()
    held, created = await policies.upload(
        session=session, registry=registry, actor=admin, content=await http.body(), media_type=media_type
    )
    response.headers["Location"] = f"/v1/policies/{held.name}/{held.version}"
    if not created:
        response.status_code = status.HTTP_200_OK
    return held


@router.post(
    "/v1/policies/{name}/{version}/activate",
    summary="Make a policy the one that decides new submissions and amendments",
    description="If-Match is optional: sent, it must name the current activation (the `ETag` of GET /v1/policies), "
    "else 412. Without it, of two activations made at the same moment exactly one is recorded and the other is a 409.",
    responses=NO_POLICY
    | STALE
    | {
        200: {"description": "The policy, now active", "headers": ACTIVATION_ETAG},
        409: problem_doc(
            "A replay-only policy (problem type policy-replay-only): an edition UK law has overtaken, or derived from "
            "one; or another activation recorded at the same moment (problem type conflict)"
        ),
    },
)
async def activate_policy(
    name: PathName,
    version: PathName,
    response: Response,
    session: SessionDep,
    registry: RegistryDep,
    admin: AdminPrincipal,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=1000, description=ACTIVATION_IF_MATCH)] = None,
) -> PolicyPublic:
    activated, etag = await policies.activate(
        session=session, registry=registry, actor=admin, name=name, version=version, if_match=if_match
    )
    response.headers["ETag"] = etag
    return activated


@router.post(
    "/v1/policies/{name}/{version}/replay",
    status_code=status.HTTP_201_CREATED,
    summary="What-if: re-evaluate stored decisions under this policy with the facts they "
    "recorded; nothing stored changes",
    responses=BODY_PROBLEMS
    | {
        201: {
            "description": "The replay's totals",
            "headers": {"Location": {"description": "The replay's own URL", "schema": {"type": "string"}}},
        },
        404: problem_doc("No such policy"),
        409: problem_doc(
            "A replay is already running for the caller's organisation (problem type replay-running), or a request "
            "with the same Idempotency-Key is being recorded at this moment: retry shortly"
        ),
    },
)
async def replay_policy(
    name: PathName,
    version: PathName,
    criteria: ReplayCriteria,
    response: Response,
    session: SessionDep,
    registry: RegistryDep,
    principal: PolicyReviewer,
    settings: SettingsDep,
) -> ReplayPublic:
    policy = await registry.get(session=session, name=name, version=version)
    since, until = replay.window(criteria=criteria, max_days=settings.replay_max_days)
    done = await replay.replay(
        session=session,
        policy=policy,
        criteria=criteria,
        since=since,
        until=until,
        actor=principal,
        max_decisions=settings.replay_max_decisions,
    )
    response.headers["Location"] = f"/v1/policy-replays/{done.id}"
    return done


@router.get(
    "/v1/policy-replays",
    summary="The replays run so far, newest first, each with its totals",
    responses=INVALID_INPUT,
)
async def list_replays(
    session: SessionDep, _: PolicyReviewer, cursor: PageCursor = None, limit: PageLimit = 50
) -> ReplayPage:
    return await replay.recent_page(session=session, cursor=cursor, limit=limit)


@router.get(
    "/v1/policy-replays/{replay_id}",
    summary="A replay's totals",
    responses=INVALID_INPUT | {404: problem_doc("No such replay")},
)
async def get_replay(replay_id: PathName, session: SessionDep, _: PolicyReviewer) -> ReplayPublic:
    return await replay.get(session=session, replay_id=replay_id)


@router.get(
    "/v1/policy-replays/{replay_id}/changes",
    summary="The request versions whose outcome or findings would differ, each with the rules that changed",
    responses=INVALID_INPUT | {404: problem_doc("No such replay")},
)
async def replay_changes(
    replay_id: PathName,
    session: SessionDep,
    _: PolicyReviewer,
    cursor: PageCursor = None,
    limit: PageLimit = 50,
) -> ReplayChangePage:
    return await replay.changes_page(session=session, replay_id=replay_id, cursor=cursor, limit=limit)
