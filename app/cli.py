"""The `caldicott` command: serve, migrate, deliver webhooks, mint development tokens, keep the audit trail
(app/cli_audit.py), re-key subject hashes, write the OpenAPI document."""

import argparse
import logging
import os
import sys
from pathlib import Path

from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from alembic import command
from app import cli_audit
from app.models.vocabulary import Role
from app.platform import logs as log_config
from app.platform.config import Settings, get_settings
from app.services.operations.schema_state import migrations_folder

log = logging.getLogger("caldicott")

AUTO = "auto"  # `serve --workers auto`: one process per CPU this process may use (one on SQLite)


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for our migrations, wherever the package is installed."""
    script_location = migrations_folder()
    if script_location is None:
        raise SystemExit("cannot find the alembic/ migrations folder; run from the project directory")
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["database_url"] = database_url
    return config


def migrate(settings: Settings) -> None:
    """Bring the database schema up to the latest migration."""
    command.upgrade(alembic_config(settings.database_url), "head")


def cmd_migrate(_: argparse.Namespace) -> int:
    migrate(get_settings())
    print("database migrated to the latest schema")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    import uvicorn

    from app.main import create_app
    from app.platform import observability, server
    from app.services.operations import readiness
    from app.wiring import wiring_of

    settings = get_settings()
    workers = args.workers
    if workers == AUTO:
        workers = 1 if settings.uses_sqlite else server.available_cpus()
    elif workers > 1 and settings.uses_sqlite:
        reason = (
            "SQLite is served by one process (its rate-limit buckets are in memory, "
            "and writers would contend for the file)"
        )
        print(f"caldicott serve: --workers {workers} needs PostgreSQL; {reason}", file=sys.stderr)
        return 2
    app = create_app(settings)  # first: a bad policy or key file stops us before the database is touched
    if settings.uses_sqlite:
        migrate(settings)
    # A schema behind this code is one log line naming `caldicott migrate` (and /readyz a 503),
    # not a 500 on the first request.
    asyncio.run(readiness.report_at_start(settings=settings, registry=wiring_of(app).policies))
    database = settings.database_url.split("://")[0]
    processes = "one process" if workers == 1 else f"{workers} worker processes"
    docs = f"API docs at http://{args.host}:{args.port}/docs" if settings.api_docs_served else "API docs off"
    log.info(
        "Caldicott service on http://%s:%d (database: %s; %s); %s", args.host, args.port, database, processes, docs
    )
    if settings.jwt_secret is not None:
        log.info("development tokens: %s token --org CODE --role agency|guardian|auditor|admin", sys.argv[0])
    options = server.uvicorn_options(settings)
    if workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, **options)
    else:
        # uvicorn spawns the workers; each builds the app from the environment, as get_settings() did here,
        # and counts into the directory made for this start, so any of them answers a scrape with every count.
        options["log_config"] = server.worker_logging(args.log_level)
        with observability.shared_by_processes():
            uvicorn.run(
                "app.main:create_app",
                factory=True,
                workers=workers,
                host=args.host,
                port=args.port,
                log_level=args.log_level,
                **options,
            )
    return 0


def worker_count(text: str) -> int | str:
    """`--workers`: a number of processes, at least 1, or `auto`."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of processes (at least 1) or auto (from --workers, "
            "CALDICOTT_WORKERS or WEB_CONCURRENCY)"
        )
    return count


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio

    from app.platform import observability
    from app.services.webhooks import worker as delivery

    settings = get_settings()
    worker_metrics = observability.Metrics(process=observability.ProcessRole.WORKER)
    if args.metrics_port is not None:
        observability.serve_worker_metrics(worker_metrics, args.metrics_port, commit=settings.build_commit)
    with observability.counting(worker_metrics):
        attempts = asyncio.run(delivery.work(settings=settings, once=args.once))
    if args.once:
        print(f"webhook attempts made: {attempts}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from app.http.tokens import mint_dev_token

    try:
        token = mint_dev_token(
            get_settings(),
            org=args.org,
            roles=args.role,
            sub=args.sub or f"dev-{args.org.lower()}",
            ttl_seconds=args.ttl,
        )
    except RuntimeError as error:
        print(f"caldicott token: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    import json

    from app.main import create_app

    document = json.dumps(create_app(get_settings()).openapi(), indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).write_text(document)
    return 0


def cmd_attachments_purge(args: argparse.Namespace) -> int:
    """Remove the content of attachments whose retention has ended
    (their rows and hashes stay), and say what was done."""
    import asyncio

    from app.services.attachments import retention as attachment_retention

    dry_run = args.dry_run
    report = asyncio.run(attachment_retention.run(get_settings(), dry_run=dry_run))
    print("\n".join(report.lines(dry_run=dry_run)))
    return 0


def cmd_subjects_rekey(args: argparse.Namespace) -> int:
    """Move the subject lookup rows of the identifiers given to the current subject key, and say what was done."""
    import asyncio
    from contextlib import nullcontext

    from app.services.sharing_requests import subject_keys

    settings = get_settings()
    with nullcontext(sys.stdin) if args.identifiers == "-" else Path(args.identifiers).open(encoding="utf-8") as lines:
        identifiers = (line.strip() for line in lines)
        report = asyncio.run(subject_keys.run_rekey(settings, identifiers=identifiers, batch_size=args.batch_size))
    print("\n".join(report.lines()))
    return 0


def cmd_subjects_versions(_: argparse.Namespace) -> int:
    import asyncio

    from app.services.sharing_requests import subject_keys

    print("\n".join(asyncio.run(subject_keys.run_versions(get_settings()))))
    return 0


def batch_size(text: str) -> int:
    """`subjects rekey --batch-size`: identifiers per transaction, within what one query's parameters may hold."""
    from app.services.sharing_requests.subject_keys import MAX_BATCH

    if not text.isdigit() or not 1 <= int(text) <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of identifiers from 1 to {MAX_BATCH}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="caldicott", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API (migrates the embedded SQLite database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument(
        "--workers",
        type=worker_count,
        default=os.environ.get("CALDICOTT_WORKERS") or os.environ.get("WEB_CONCURRENCY") or "1",
        metavar="N",
        help="server processes, PostgreSQL only above 1; auto: one per CPU available (default: $CALDICOTT_WORKERS, "
        "else $WEB_CONCURRENCY, else 1)",
    )
    serve.set_defaults(run=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)

    worker = commands.add_parser(
        "worker",
        help="deliver webhooks from the outbox, and announce agreements' review dates and ends "
        "(several may run at once on PostgreSQL)",
    )
    worker.add_argument("--once", action="store_true", help="deliver whatever is due now, then exit")
    worker.add_argument(
        "--metrics-port", type=int, help="serve the worker's Prometheus metrics on this port (all interfaces)"
    )
    worker.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    worker.set_defaults(run=cmd_worker)

    token = commands.add_parser("token", help="mint a development token signed with CALDICOTT_JWT_SECRET")
    token.add_argument("--org", required=True, help="organisation code (claim `org`)")
    token.add_argument(
        "--role", required=True, action="append", type=Role, choices=list(Role), help="repeat for several roles"
    )
    token.add_argument("--sub", help="subject (claim `sub`); default dev-<org>")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(run=cmd_token)
    cli_audit.add_commands(commands)
    attachments = commands.add_parser("attachments", help="evidence attached to sharing requests")
    attachment_commands = attachments.add_subparsers(dest="attachments_command", required=True)
    purge = attachment_commands.add_parser(
        "purge",
        help="remove the content of attachments past CALDICOTT_ATTACHMENT_RETENTION_DAYS "
        "(rows and SHA-256 kept, each purge audited)",
    )
    purge.add_argument("--dry-run", action="store_true", help="say what would be purged, and change nothing")
    purge.set_defaults(run=cmd_attachments_purge)
    subjects = commands.add_parser("subjects", help="the keyed hashes of subject identifiers (key rotation)")
    subject_commands = subjects.add_subparsers(dest="subjects_command", required=True)
    rekey = subject_commands.add_parser(
        "rekey",
        help="move the lookup rows of the identifiers given to CALDICOTT_SUBJECT_KEY_CURRENT's key "
        "(idempotent, committed in batches, each request audited)",
    )
    rekey.add_argument(
        "--identifiers", required=True, metavar="FILE", help="one identifier a line (- for standard input)"
    )
    rekey.add_argument("--batch-size", type=batch_size, default=1000, help="identifiers per transaction")
    rekey.set_defaults(run=cmd_subjects_rekey)
    subject_commands.add_parser(
        "versions", help="how many lookup rows each subject key version holds, and whether it is configured"
    ).set_defaults(run=cmd_subjects_versions)
    openapi = commands.add_parser("openapi", help="write the OpenAPI document of the app")
    openapi.add_argument("--output", default="openapi/openapi.json", help="file to write, or - for standard output")
    openapi.set_defaults(run=cmd_openapi)
    return root


def startup_error(error: Exception) -> str:
    """One line for an operator: which setting is wrong and why, never the values given (they may be secrets)."""
    if isinstance(error, ValidationError):
        reasons = []
        for problem in error.errors():
            reason = str(problem["msg"]).removeprefix("Value error, ")
            reasons.append(f"CALDICOTT_{str(problem['loc'][0]).upper()}: {reason}" if problem["loc"] else reason)
        return "; ".join(reasons)
    if isinstance(error, DBAPIError):
        return f"the database refused or could not be reached: {type(error.orig).__name__}"
    return f"{type(error).__name__}: {error}" if isinstance(error, OSError) else str(error)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    log_config.configure(getattr(args, "log_level", "info"))
    try:
        return args.run(args)
    except (
        ValueError,
        OSError,
        DBAPIError,
    ) as error:  # bad settings, a missing file, no database: say so, no traceback
        print(f"caldicott {args.command}: {startup_error(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
