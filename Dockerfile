# diplomas: slim image, non-root, instance and keys on a volume.
# The base image by digest, not by tag: a tag moves, a digest names these very bytes. This is
# the multi-platform index of python:3.11-slim (Python 3.11.15, Debian trixie) as recorded
# by docker-library/repo-info; to move on, `docker pull python:3.11-slim` and
# `docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim` (see the README).
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# Dependencies first, each file checked against the lock's hashes (a cached layer while
# only the code changes); then the project itself, with nothing more fetched.
COPY requirements/build.txt requirements/runtime.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt \
 && pip install --no-cache-dir --require-hashes --prefix=/install -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY diplomas ./diplomas
RUN pip install --no-cache-dir --no-deps --no-build-isolation --prefix=/install .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DIPLOMAS_HOME=/data/var DIPLOMAS_KEYS_DIR=/data/keys \
    DIPLOMAS_TEMPLATES_DIR=/data/templates
RUN groupadd --gid 10001 diplomas \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
      --shell /usr/sbin/nologin diplomas \
 && mkdir -p /data && chown diplomas:diplomas /data
COPY --from=build /install /usr/local
# A runtime lock that lacks something pyproject.toml asks for stops the build here.
RUN pip check
# Numeric, so that Kubernetes' runAsNonRoot can see it is not root.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
# `init` creates what is missing and never overwrites keys, so it is safe on every start.
CMD ["sh", "-c", "diplomas init && exec diplomas serve --host 0.0.0.0 --port 8000"]
