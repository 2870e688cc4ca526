# diplomas: slim image, non-root, instance and keys on a volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY diplomas ./diplomas
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DIPLOMAS_HOME=/data/var DIPLOMAS_KEYS_DIR=/data/keys \
    DIPLOMAS_TEMPLATES_DIR=/data/templates
RUN groupadd --gid 10001 diplomas \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
      --shell /usr/sbin/nologin diplomas \
 && mkdir -p /data && chown diplomas:diplomas /data
COPY --from=build /install /usr/local
# Numeric, so that Kubernetes' runAsNonRoot can see it is not root.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
# `init` creates what is missing and never overwrites keys, so it is safe on every start.
CMD ["sh", "-c", "diplomas init && exec diplomas serve --host 0.0.0.0 --port 8000"]
