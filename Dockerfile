# syntax=docker/dockerfile:1
# Hypercare Bot container image.
#
#   docker build -t hypercare-bot .
#   docker run --rm -v hypercare-data:/data -v "$PWD/hypercare.yaml:/app/hypercare.yaml:ro" \
#     -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN -e SLACK_SIGNING_SECRET -p 3000:3000 hypercare-bot
#
# Defaults: SQLite database in the /data volume, program file /app/hypercare.yaml
# (a copy of hypercare.example.yaml unless you mount your own), HTTP on port 3000
# (/healthz, /readyz, and /slack/events in HTTP mode).

# ---- build stage: wheels for the app and its runtime dependencies ----------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip wheel ".[postgres]" -w /wheels

# ---- runtime stage -----------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 hypercare \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /app --shell /usr/sbin/nologin hypercare \
    && mkdir -p /data \
    && chown 10001:10001 /data

# Install from the builder's wheels only (no index, no build tools, no dev deps).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl

WORKDIR /app
COPY hypercare.example.yaml /app/hypercare.yaml

# MPLCONFIGDIR: matplotlib's font cache must be writable, or it rebuilds it on every start.
ENV DATABASE_URL=sqlite:////data/hypercare.db \
    HYPERCARE_CONFIG=/app/hypercare.yaml \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=3000

VOLUME /data
EXPOSE 3000

USER 10001:10001

# Liveness only (/readyz also checks the DB and the Slack connection).
# slim images have no curl: use Python. Honors PORT if it was overridden.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=3)"]

ENTRYPOINT ["hypercare-bot"]
CMD ["serve"]
