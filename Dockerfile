# syntax=docker/dockerfile:1
# Build a wheel of the service, then install it into a slim runtime image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CALDICOTT_ENV=production
RUN useradd --system --create-home --home-dir /srv/caldicott caldicott
WORKDIR /srv/caldicott
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Migrations ship beside the installed package; `caldicott migrate` finds ./alembic.
COPY alembic ./alembic
USER caldicott
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["caldicott", "serve", "--host", "0.0.0.0", "--port", "8000"]
