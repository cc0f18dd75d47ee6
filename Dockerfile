# syntax=docker/dockerfile:1
# Build stage: the runtime dependencies exactly as locked (no test extras), then the service, into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A virtualenv without pip: the build stage's own pip installs into it (--python), so no installer ships.
RUN python -m venv --without-pip /opt/caldicott
WORKDIR /src
# Every file pip fetches must match a hash in the lock (scripts/lock makes it from pyproject.toml); the build
# backend is locked too. This layer is rebuilt only when the lock changes, not with every change to app/.
COPY requirements.lock ./
RUN pip --python /opt/caldicott/bin/python install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
# The project alone: no dependency resolved, no build backend fetched. Then the build backend goes: it built the
# project and has no part in running it (the SBOM, `make sbom`, leaves it out too).
RUN pip --python /opt/caldicott/bin/python install --no-deps --no-build-isolation . \
 && pip --python /opt/caldicott/bin/python uninstall --yes setuptools

# Runtime stage: the virtualenv and the migrations, run as an unprivileged user.
FROM python:3.11-slim
# What the image is, for registries and scanners (OCI annotations). VERSION is pyproject.toml's
# (tests/test_releases.py); a release build passes REVISION (the commit) and SOURCE (the repository's URL):
# docs/developers/releases.md.
ARG VERSION=1.0.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="caldicott" \
      org.opencontainers.image.description="Caldicott sharing adjudication service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
# No package installer in the running image: the base image's pip, setuptools and wheel (and ensurepip's copies)
# go, so scanners do not report tools the service never runs and nothing in the image is there to install more.
RUN cd "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf pip pip-*.dist-info setuptools setuptools-*.dist-info pkg_resources _distutils_hack distutils-precedence.pth \
      wheel wheel-*.dist-info \
 && rm -rf /usr/local/bin/pip /usr/local/bin/pip3 /usr/local/bin/pip3.* /usr/local/bin/wheel \
      "$(python -c 'import ensurepip, pathlib; print(pathlib.Path(ensurepip.__file__).parent)')/_bundled"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/caldicott/bin:$PATH \
    CALDICOTT_BUILD_COMMIT="${REVISION}" \
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
