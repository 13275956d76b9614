# KITT: the CLI, `kitt serve`, `kitt project` and the embedded runtime (nats-server from its wheel inside).
#   docker build -t kitt .
#   docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /path/to/models:/models:ro -v ./kitt-results:/app/kitt-results kitt run -m /models/X -e llama_cpp
# BASE: any Debian bookworm image: the public debian:bookworm-slim, or a local one where no registry is
# reachable (docker/local-base.sh makes kitt/debian:bookworm): --build-arg BASE=kitt/debian:bookworm.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# pip's CA bundle and settings for this build only (docker/build-extras/README.md); they do not ship.
COPY docker/build-extras/ /etc/kitt-build/
COPY pyproject.toml README.md /src/
COPY kitt/ /src/kitt/
COPY migrations/ /src/migrations/
COPY docker/ /src/docker/
COPY datasets/ /src/datasets/
# KITT_EXTRAS: e.g. "[quality]" for lm-eval's quality benchmarks.
ARG KITT_EXTRAS=""
RUN rm -rf /src/docker/build-extras \
    && python3 -m venv /opt/kitt \
    && if [ -f /etc/kitt-build/ca.crt ]; then export PIP_CERT=/etc/kitt-build/ca.crt; fi \
    && if [ -f /etc/kitt-build/pip.conf ]; then export PIP_CONFIG_FILE=/etc/kitt-build/pip.conf; fi \
    && /opt/kitt/bin/pip install --no-cache-dir --disable-pip-version-check "/src${KITT_EXTRAS}"

FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --shell /usr/sbin/nologin kitt \
    && mkdir -p /app/kitt-results && chown kitt:kitt /app /app/kitt-results
COPY --from=build /opt/kitt /opt/kitt
COPY docker/entrypoint.sh /usr/local/bin/kitt-entrypoint
ENV PATH=/opt/kitt/bin:$PATH KITT_HOME=/app/kitt-results PYTHONUNBUFFERED=1
WORKDIR /app
VOLUME /app/kitt-results
ENTRYPOINT ["kitt-entrypoint", "kitt"]
CMD ["--help"]
