# fhirauth in a container: the package installed from this checkout, run by a non-root user.
#
#   docker build -t fhirauth .
#   docker run --rm -p 127.0.0.1:8080:8080 -e FHIRAUTH_BASE_URL=http://localhost:8080/fhir fhirauth
#
# Data (SQLite, the token signing key, the demo client's key) lives in /var/lib/fhirauth: mount
# a volume there, or set FHIRAUTH_DATABASE_URL (compose.yaml runs it with PostgreSQL 16).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the package (policies/ and profiles/ go to /usr/local/share/fhirauth as data files),
# then drop the sources.
COPY pyproject.toml README.md /tmp/fhirauth/
COPY fhirauth /tmp/fhirauth/fhirauth
COPY policies /tmp/fhirauth/policies
COPY profiles /tmp/fhirauth/profiles
RUN pip install /tmp/fhirauth && rm -rf /tmp/fhirauth
# The sample requests, for `serve --demo` (its client acts for the example providers) and for
# `docker compose exec fhirauth fhirauth submit /usr/local/share/fhirauth/examples/*.json`.
COPY examples /usr/local/share/fhirauth/examples

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/fhirauth \
        --shell /usr/sbin/nologin fhirauth \
    && mkdir -p /var/lib/fhirauth \
    && chown fhirauth:fhirauth /var/lib/fhirauth
USER fhirauth
WORKDIR /var/lib/fhirauth
ENV FHIRAUTH_DATA_DIR=/var/lib/fhirauth \
    FHIRAUTH_URL=http://127.0.0.1:8080/fhir

EXPOSE 8080
# The slim image has no curl: ask the CapabilityStatement with Python's own HTTP client.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/fhir/metadata', timeout=4)"]

# Set FHIRAUTH_BASE_URL to the public FHIR base (fullUrls and the token audience use it).
CMD ["fhirauth", "serve", "--host", "0.0.0.0", "--port", "8080"]
