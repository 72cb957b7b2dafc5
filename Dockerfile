# One image for the web app, the monitoring workers and the remote probes (see docs/deployment.md):
#   docker run ... calcifer serve       (the default: the web app on :8000)
#   docker run ... calcifer worker      (the monitoring scheduler; several share the load on PostgreSQL)
#   docker run ... calcifer probe --server URL --token TOKEN --data-dir /var/lib/calcifer/probe
#
# BASE is any Debian 12 (bookworm) or newer image or rootfs: the default is Debian's official image;
# a rootfs made with `debootstrap` from Debian's packages works as well (tests/deploy/test_image.py).
# podman/buildah: build with `--format docker`, or the OCI format drops the HEALTHCHECK.
ARG BASE=docker.io/library/debian:bookworm-slim

# The build stage compiles what has no wheel (ruamel.yaml.clibz) into a virtual environment.
FROM ${BASE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Behind a TLS-intercepting proxy, mount its CA bundle and name it (the build machine's own bundle, e.g.
# `-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/build-ca.crt:ro --build-arg
# PIP_CERT=/etc/ssl/certs/build-ca.crt` with podman/buildah); unset otherwise.
ARG PIP_CERT
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN python3 -m venv /opt/calcifer \
 && /opt/calcifer/bin/pip install --no-cache-dir --disable-pip-version-check /src

FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
# git: backups bundle the managed repository with the git program; tini reaps the writer process.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates git tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/calcifer --shell /usr/sbin/nologin calcifer \
 && mkdir -p /var/lib/calcifer \
 && chown calcifer:calcifer /var/lib/calcifer \
 && chmod 0750 /var/lib/calcifer
COPY --from=build /opt/calcifer /opt/calcifer
ENV PATH=/opt/calcifer/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CALCIFER_DATA_DIR=/var/lib/calcifer \
    CALCIFER_HOST=0.0.0.0 \
    CALCIFER_PORT=8000 \
    CALCIFER_LOG_FORMAT=json
# The database (SQLite), the secret key, the managed repository and the backups live here.
VOLUME ["/var/lib/calcifer"]
USER calcifer
WORKDIR /var/lib/calcifer
EXPOSE 8000
# For `serve`; compose.yaml turns it off for the worker and the probe, which serve no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CALCIFER_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--", "calcifer"]
CMD ["serve"]
