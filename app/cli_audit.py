"""`caldicott audit …`: verify the trail (in the database, or an export with no database),
sign a checkpoint now, make a signing key, export.

Exit status of `verify`: 0 when the chain and every checkpoint agree (events still pending included), 1 when
something disagrees (the first seq on standard error), 2 when the trail or a file could not be read.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.audit import AuditVerification, CheckpointPublic
from app.models.webhook import WebhookEventType
from app.platform.config import get_settings
from app.services.audit import signing as audit_signing

T = TypeVar("T")
_CHECKPOINTS = TypeAdapter(list[CheckpointPublic])


def read_witness(path: Path) -> list[CheckpointPublic]:
    """Checkpoints a witness kept: one, a list, or the webhook bodies they came in
    (`{"type": "audit.checkpoint", "data": …}`)."""
    value = json.loads(path.read_text())
    items = value if isinstance(value, list) else [value]
    unwrapped = [
        item["data"] if isinstance(item, dict) and item.get("type") == WebhookEventType.AUDIT_CHECKPOINT else item
        for item in items
    ]
    return _CHECKPOINTS.validate_python(unwrapped)


async def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from app.platform.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings().database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _report(result: AuditVerification) -> int:
    print(result.model_dump_json(indent=2))
    if result.pending:
        print(
            f"caldicott audit verify: {result.pending} events recorded and not chained yet (pending, not broken)",
            file=sys.stderr,
        )
    if not result.valid:
        first = result.findings[0]
        where = f"checkpoint {first.checkpoint} ({first.source})" if first.checkpoint is not None else first.source
        print(
            "caldicott audit verify: the audit trail is broken at seq "
            f"{result.first_broken_seq}: {where}: {first.problem}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from app.services.audit import chain as audit
    from app.services.audit import export as audit_export

    try:
        witnesses = [checkpoint for path in args.checkpoint for checkpoint in read_witness(path)]
        if args.export is not None:
            keys = audit_signing.read_key_set(args.keys) if args.keys is not None else None
            if keys is None:
                print(
                    "caldicott audit verify: signatures checked against the keys in the export itself; give --keys to "
                    "check them against keys you hold",
                    file=sys.stderr,
                )
            with args.export.open(encoding="utf-8") as lines:
                return _report(audit_export.verify(lines, keys=keys, witnesses=witnesses))
        published = (
            get_settings().audit_keys(sign=False).published
            if args.keys is None
            else audit_signing.read_key_set(args.keys)
        )
        return _report(
            asyncio.run(
                _with_session(lambda session: audit.verify(session=session, keys=published, witnesses=witnesses))
            )
        )
    except (DBAPIError, OSError) as error:
        print(
            "caldicott audit verify: cannot read the audit trail: "
            f"{type(getattr(error, 'orig', error)).__name__}: {error}",
            file=sys.stderr,
        )
    except (
        ValueError,
        ValidationError,
    ) as error:  # a witness file, a key set or an export that is not what it should be
        print(f"caldicott audit verify: {error}", file=sys.stderr)
    return 2


def cmd_checkpoint(_: argparse.Namespace) -> int:
    from app.platform.db import make_engine, make_sessionmaker
    from app.services.audit import chain as audit
    from app.services.audit import checkpoints

    settings = get_settings()
    keys = settings.audit_keys(sign=True)

    async def sign() -> CheckpointPublic | None:
        engine = make_engine(settings.database_url)
        try:
            sessionmaker = make_sessionmaker(engine)
            await audit.chain_pending(sessionmaker)
            return await checkpoints.make(sessionmaker, keys=keys, log_name=settings.controller_org)
        finally:
            await engine.dispose()

    try:
        checkpoint = asyncio.run(sign())
    except checkpoints.CannotSign as refusal:
        print(f"caldicott audit checkpoint: NOT signed: {refusal}; run `caldicott audit verify`", file=sys.stderr)
        return 1
    if checkpoint is None:
        print(
            "caldicott audit checkpoint: nothing new to sign: "
            "the chain has not moved since the last checkpoint (or has no events)",
            file=sys.stderr,
        )
        return 0
    print(checkpoint.model_dump_json(indent=2))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        key = audit_signing.generate(args.out)
    except FileExistsError:
        print(f"caldicott audit keygen: {args.out} exists; a signing key is never overwritten", file=sys.stderr)
        return 2
    if args.public_keys is not None:
        published = audit_signing.read_key_set(args.public_keys) if args.public_keys.exists() else {}
        audit_signing.write_key_set(args.public_keys, published | {key.kid: key.jwk})
        print(
            f"caldicott audit keygen: added {key.kid} to {args.public_keys} ({len(published) + 1} keys)",
            file=sys.stderr,
        )
    print(json.dumps(key.jwk, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from app.services.audit import export as audit_export

    settings = get_settings()
    published = settings.audit_keys(sign=False).published

    def export(out: IO[bytes]) -> dict[str, Any]:
        return asyncio.run(
            _with_session(
                lambda session: audit_export.write(
                    session=session, out=out, since=args.since, log_name=settings.controller_org, keys=published
                )
            )
        )

    try:
        if args.out == "-":
            end = export(sys.stdout.buffer)
        else:
            with Path(args.out).open("wb") as out:
                end = export(out)
    except (DBAPIError, OSError) as error:
        print(
            "caldicott audit export: cannot read the audit trail: "
            f"{type(getattr(error, 'orig', error)).__name__}: {error}",
            file=sys.stderr,
        )
        return 2
    print(
        f"caldicott audit export: {end['events']} events after seq {args.since}, "
        f"{end['checkpoints']} checkpoints, head seq {end['head_seq']}",
        file=sys.stderr,
    )
    return 0


def add_commands(commands: Any) -> None:
    """The `audit` command and its subcommands, on the root parser's subparsers."""
    audit = commands.add_parser("audit", help="the tamper-evident audit trail and its signed checkpoints")
    subcommands = audit.add_subparsers(dest="audit_command", required=True)
    verify = subcommands.add_parser(
        "verify",
        help="recompute the hash chain and check every signed checkpoint; exit status 1 when something disagrees",
    )
    verify.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint a witness kept (repeatable)",
    )
    verify.add_argument(
        "--export", type=Path, metavar="FILE", help="verify this export instead of the database (no database needed)"
    )
    verify.add_argument(
        "--keys",
        type=Path,
        metavar="JWKS",
        help="the public keys to trust (a saved GET /v1/audit/keys); default: the service's, or the export's own",
    )
    verify.set_defaults(run=cmd_verify)
    subcommands.add_parser(
        "checkpoint", help="sign the chain's head now (the worker does every CALDICOTT_AUDIT_CHECKPOINT_SECONDS)"
    ).set_defaults(run=cmd_checkpoint)
    keygen = subcommands.add_parser(
        "keygen", help="make an Ed25519 key to sign checkpoints (mode 0600); prints its public JWK"
    )
    keygen.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the PEM file to create (never overwritten)"
    )
    keygen.add_argument(
        "--public-keys",
        type=Path,
        metavar="JWKS",
        help="add the public key to this JWK set (created if missing): how a key is rotated",
    )
    keygen.set_defaults(run=cmd_keygen)
    export = subcommands.add_parser(
        "export", help="write the events after a seq, with checkpoints and public keys, as JSON Lines"
    )
    export.add_argument(
        "--since",
        type=int,
        default=0,
        metavar="SEQ",
        help="export the events after this seq (the head_seq of the previous export); default 0, all",
    )
    export.add_argument("--out", default="-", metavar="FILE", help="file to write, or - for standard output (default)")
    export.set_defaults(run=cmd_export)
