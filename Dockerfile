# The image for `migrate`, `worker` and `beat` in docker-compose.yml (and `reconciler` commands).
FROM python:3.11-slim

# MALLOC_ARENA_MAX: a sync reads its partitions in threads, and glibc's arena per thread kept
# 25-30 MB more of freed memory than two arenas do at bench scale 0.5 (bench/README.md).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_ARENA_MAX=2

WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY reconciler ./reconciler
COPY workers ./workers
RUN pip install . \
    && useradd --create-home --uid 10001 reconciler
USER reconciler

CMD ["reconciler", "--help"]
