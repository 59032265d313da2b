# The image every pipeline stage runs in: the SDK, the stage tools and nginx.
# Build context: the root of this repository.
#   docker build -f containers/toolchain.Dockerfile --build-arg BASE_IMAGE=... .
# Layers go from what changes least to what changes most: a source edit reinstalls only
# the SDK itself, never its dependencies.
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/pipelines \
    PATH=/opt/pipelines/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# nginx: the deploy targets and rollback drills route traffic through a real nginx. git and a
# pager (less) are programs a project's own tests call. On a Debian Python, the standard
# library's optional modules ship apart (tkinter, dbm.gnu): install them so the project's tests
# see the same standard library as on a developer's machine.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light git less ca-certificates \
    && if [ "$(command -v python3)" = /usr/bin/python3 ]; then \
        apt-get install -y --no-install-recommends python3-tk python3-gdbm; fi \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -c 'import platform; print(platform.python_version())' > /etc/pipelines-python-version

# Extra CA certificates for networks that intercept TLS (see containers/extra-ca/README.md).
COPY containers/extra-ca/ /usr/local/share/pipelines-extra-ca/
RUN find /usr/local/share/pipelines-extra-ca/ -type f \( -name '*.pem' -o -name '*.crt' \) \
        -exec cat {} + >> /etc/ssl/certs/ca-certificates.crt

RUN python3 -m venv /opt/pipelines
COPY constraints.txt containers/toolchain-requirements.txt /opt/pipelines-src/
RUN pip install -c /opt/pipelines-src/constraints.txt \
        -r /opt/pipelines-src/toolchain-requirements.txt

COPY pyproject.toml README.md /opt/pipelines-src/
COPY pipelines /opt/pipelines-src/pipelines
RUN pip install --no-deps --no-build-isolation /opt/pipelines-src

# Stages run in the project, mounted here.
WORKDIR /src
CMD ["pipelines", "--help"]
