# Prometheus from Debian's own package, for `kitt monitoring` and `kitt stack --monitoring` on a host that
# reaches no image registry (the same file builds on the public debian:bookworm-slim). The configuration
# is mounted at /etc/prometheus/prometheus.yml; data in /var/lib/prometheus.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/prometheus && chmod 1777 /var/lib/prometheus
# Compose runs it as the owner of the generated files (it reads the 0600 token), so any user may write
# the data folder; without a compose `user:` it runs as Debian's prometheus user.
USER prometheus
VOLUME /var/lib/prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/var/lib/prometheus"]
