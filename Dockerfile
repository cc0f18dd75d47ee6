# syntax=docker/dockerfile:1
# Build stage: the runtime dependencies exactly as locked (no test extras), then the service, into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/caldicott
WORKDIR /src
# Every file pip fetches must match a hash in the lock (scripts/lock makes it from pyproject.toml); the build
# backend is locked too. This layer is rebuilt only when the lock changes, not with every change to app/.
COPY requirements.lock ./
RUN /opt/caldicott/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
# The project alone: no dependency resolved, no build backend fetched.
RUN /opt/caldicott/bin/pip install --no-deps --no-build-isolation .

# Runtime stage: the virtualenv and the migrations, run as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/caldicott/bin:$PATH \
    CALDICOTT_ENV=production
# A numeric user, so that an orchestrator's "run as non-root" check can see it is not root.
RUN groupadd --system --gid 10001 caldicott \
 && useradd --system --uid 10001 --gid caldicott --create-home --home-dir /srv/caldicott caldicott
COPY --from=build /opt/caldicott /opt/caldicott
WORKDIR /srv/caldicott
# `caldicott migrate` finds the migrations in ./alembic, beside the working directory.
COPY alembic ./alembic
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# Configured entirely by CALDICOTT_* variables; production refuses to start without its keys and PostgreSQL.
# `serve` applies the slow-client limits itself (CALDICOTT_HTTP_*: head timeout, keep-alive, head size, concurrency).
# Server processes: CALDICOTT_WORKERS, else WEB_CONCURRENCY, else `auto`: one per CPU the container may use (its
# CPU set, lowered by a cgroup CPU limit such as `--cpus`; see docs/operators/deployment.md). `exec` keeps caldicott as PID 1 for SIGTERM;
# the entrypoint passes any other command (`caldicott worker`, `caldicott migrate`) through unchanged.
ENTRYPOINT ["/bin/sh", "-c", "export CALDICOTT_WORKERS=\"${CALDICOTT_WORKERS:-${WEB_CONCURRENCY:-auto}}\"; exec \"$@\"", "caldicott-entrypoint"]
CMD ["caldicott", "serve", "--host", "0.0.0.0", "--port", "8000"]
