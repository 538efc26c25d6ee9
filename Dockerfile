# citadel-bot in a container. Build: `docker build -t citadel-bot .`; run: see compose.yaml and the
# README ("Docker"). The canon ships inside the installed package; the database lives in the volume.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The bot runs as this user, which owns nothing but the data folder.
RUN groupadd --system --gid 10001 citadel \
    && useradd --system --uid 10001 --gid citadel --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin citadel

# The build context is only what the package needs (.dockerignore lets nothing else in: no .env, no
# database). The source is removed once installed; the code runs from site-packages.
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir . \
    && rm -rf /src

WORKDIR /app
RUN mkdir data && chown citadel:citadel data

# The database (and BACKUP_DIR, if set to e.g. /app/data/backups) live in the volume. /healthz and
# /metrics are served on HTTP_PORT, on every interface of the container so that a published port works.
ENV DATABASE_PATH=/app/data/citadel.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
VOLUME ["/app/data"]
EXPOSE 8080

# Numeric, so that a runtime can check it is not root (e.g. Kubernetes runAsNonRoot).
USER 10001:10001

# slim has no curl: ask with Python itself. Any answer but 2xx, or none within the timeout, fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('HTTP_PORT') or '8080'), timeout=4)"]

# The bot stops within 10 s of SIGTERM (docker stop waits 10 s by default: compose.yaml gives it 20).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
