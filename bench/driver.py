"""The hot statements alone: what a submission's four statements cost the server's process, through the driver and not.

On a database of its own on the bench cluster (bench/pg.sh), one process, the app's engine and sessionmaker
(app/platform/db.py). Each round is one session used as a submission uses it: the rate-limit take (a transaction
of its own), the caller's organisation and the webhook subscribers (joined reads), and one queued row, written at
commit (the joined write). Three ways:

  driver           as the service runs them (app/platform/driver.py, app/platform/writes.py);
  sqlalchemy       the same four Core statements through the session's connection, in one transaction;
  sqlalchemy-lean  the cheapest way found without the driver: the same compiled text and the same one-statement
                   JSON write, through SQLAlchemy's `exec_driver_sql` (no compiling, no cache lookup) on an
                   AUTOCOMMIT connection (no BEGIN and COMMIT: the driver's round trips).

Figures: CPU time of this process per round (time.process_time: PostgreSQL's work is in its own processes, not
counted) and wall time per round, the median of the batches, the ways interleaved batch by batch. The ratios to
`sqlalchemy`, measured in the same run, are the figures to compare between runs on a shared machine.

    bench/pg.sh .venv/bin/python -m bench.driver [--rounds 2000] [--batches 5]
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.models.base import utcnow
from app.models.organisation import Organisation
from app.models.rate_limit import RouteClass
from app.models.vocabulary import DsptStatus, OrganisationType
from app.platform import driver, writes
from app.platform.db import make_engine, make_sessionmaker
from app.platform.writes import table_of
from app.services.agreements import organisations as auth  # the caller's organisation, read on every request
from app.services.operations.rate_limits import DatabaseBuckets
from app.services.webhooks import outbox
from bench.common import create_database, migrate_argv, run_checked, service_env

ORG = "RXT01"


def new_organisation(number: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "code": f"B{number:09d}",
        "name": "Bench organisation",
        "type": OrganisationType.POLICE,
        "dspt_status": DsptStatus.STANDARDS_MET,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


def take_parameters() -> dict[str, Any]:
    return {"org": ORG, "route_class": str(RouteClass.WRITES), "now": time.time(), "quota": 1e12, "per_second": 1e9}


async def through_driver(sessionmaker: async_sessionmaker[AsyncSession], number: int) -> None:
    async with sessionmaker() as session:
        await driver.fetch(session, DatabaseBuckets.TAKE, take_parameters(), transaction=driver.Transaction.OWN)
        await driver.fetch(session, auth._CALLER, {"code": ORG}, transaction=driver.Transaction.JOINED)
        await driver.fetch(session, outbox._SUBSCRIBERS, {"org": ORG}, transaction=driver.Transaction.JOINED)
        writes.add(session, Organisation, new_organisation(number))
        await session.commit()


async def through_sqlalchemy(sessionmaker: async_sessionmaker[AsyncSession], number: int) -> None:
    async with sessionmaker() as session:
        connection = await session.connection()
        await connection.execute(DatabaseBuckets.TAKE.statement, take_parameters())
        await connection.execute(auth._CALLER.statement, {"code": ORG})
        await connection.execute(outbox._SUBSCRIBERS.statement, {"org": ORG})
        await connection.execute(insert(Organisation), [new_organisation(number)])
        await session.commit()


async def through_sqlalchemy_lean(sessionmaker: async_sessionmaker[AsyncSession], number: int) -> None:
    async with sessionmaker() as session:
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        for statement, parameters in (
            (DatabaseBuckets.TAKE, take_parameters()),
            (auth._CALLER, {"code": ORG}),
            (outbox._SUBSCRIBERS, {"org": ORG}),
        ):
            await connection.exec_driver_sql(statement.sql, tuple(statement.arguments(parameters)))
        row = new_organisation(number)
        write = writes._one_statement(((table_of(Organisation).name, tuple(sorted(row))),))
        rows = orjson.dumps([row], option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS).decode()
        await connection.exec_driver_sql(write.sql, (rows,))
        await session.commit()


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(Organisation), [new_organisation(0) | {"code": ORG}])


Round = Callable[[async_sessionmaker[AsyncSession], int], Awaitable[None]]


async def batch(
    run: Round,
    sessionmaker: async_sessionmaker[AsyncSession],
    first: int,
    rounds: int,
) -> tuple[float, float]:
    """(CPU us, wall us) per round."""
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(first, first + rounds):
        await run(sessionmaker, number)
    return (time.process_time() - cpu) / rounds * 1e6, (time.perf_counter() - wall) / rounds * 1e6


async def measure(url: str, *, rounds: int, batches: int) -> dict[str, Any]:
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    await seed(engine)
    runs = {"driver": through_driver, "sqlalchemy": through_sqlalchemy, "sqlalchemy-lean": through_sqlalchemy_lean}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    number = 1
    for run in runs.values():  # warm-up: connections, prepared statements, compiled caches
        await batch(run, sessionmaker, number, rounds // 10)
        number += rounds // 10
    for _ in range(batches):  # interleaved, so both see the same machine
        for name, run in runs.items():
            figures[name].append(await batch(run, sessionmaker, number, rounds))
            number += rounds
    await engine.dispose()
    result: dict[str, Any] = {"rounds": rounds, "batches": batches}
    for name, pairs in figures.items():
        result[name] = {
            "cpu_us": statistics.median(cpu for cpu, _ in pairs),
            "wall_us": statistics.median(w for _, w in pairs),
        }
    for name in ("driver", "sqlalchemy-lean"):
        ours, theirs = result[name], result["sqlalchemy"]
        result[f"{name}_over_sqlalchemy"] = {key: ours[key] / theirs[key] for key in ("cpu_us", "wall_us")}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    url = asyncio.run(create_database("bench_driver"))
    run_checked(migrate_argv(), env=service_env(url))
    result = asyncio.run(measure(url, rounds=args.rounds, batches=args.batches))
    print(json.dumps(result, indent=2))
    for name in ("driver", "sqlalchemy-lean", "sqlalchemy"):
        cpu, wall = result[name]["cpu_us"], result[name]["wall_us"]
        print(f"{name}: {cpu:.0f} us CPU, {wall:.0f} us wall per round", file=sys.stderr)


if __name__ == "__main__":
    main()
