# The example service's runtime image. Build context: the root of this repository.
#   docker build -f containers/service.Dockerfile --build-arg BASE_IMAGE=... .
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt

COPY containers/extra-ca/ /usr/local/share/pipelines-extra-ca/
RUN find /usr/local/share/pipelines-extra-ca/ -type f \( -name '*.pem' -o -name '*.crt' \) \
        -exec cat {} + >> /etc/ssl/certs/ca-certificates.crt

RUN python3 -m venv /opt/service
COPY constraints.txt examples/service/requirements.txt /opt/service-src/
RUN /opt/service/bin/pip install -c /opt/service-src/constraints.txt \
        -r /opt/service-src/requirements.txt

COPY examples/service/service /opt/service-src/service
WORKDIR /opt/service-src
USER 65534
ENV SERVICE_HOST=0.0.0.0 SERVICE_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s CMD ["/opt/service/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["/opt/service/bin/python", "-m", "service"]
