"""A baseline app under uvicorn exactly as `caldicott serve` runs the service,
so that ratios compare applications, not HTTP parsers.

The same options as the service (app/platform/server.py `uvicorn_options`: uvicorn's h11 protocol with the
request-head deadline, the keep-alive, head-size and concurrency limits from the same settings,
proxy headers, no access log) and, with several processes, the same way of spawning them
(an import string, each worker importing the app from the environment).

    .venv/bin/python -m bench.serve bench.fastapi_baseline:app --port 8001 [--workers 2]
"""

import argparse

import uvicorn

from app.platform import logs as log_config
from app.platform import server
from app.platform.config import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", help="the ASGI app as an import string, module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    options = server.uvicorn_options(get_settings())
    if args.workers > 1:
        options["log_config"] = server.worker_logging(args.log_level)
    else:
        log_config.configure(args.log_level)
    uvicorn.run(args.app, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level, **options)


if __name__ == "__main__":
    main()
