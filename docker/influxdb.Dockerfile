# InfluxDB 1.x from Debian's own package, for `kitt monitoring` and `kitt stack --monitoring` on a host
# that reaches no image registry. Authentication is always on: the first start creates the admin user,
# the `kitt` database, a `kitt` user that may write it and a `grafana` user that may read it, with the
# passwords in INFLUXDB_ADMIN_PASSWORD, INFLUXDB_KITT_PASSWORD and INFLUXDB_GRAFANA_PASSWORD.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends influxdb curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/influxdb && chown -R influxdb:influxdb /var/lib/influxdb
COPY influxdb.conf /etc/influxdb/influxdb.conf
COPY influxdb-entrypoint.sh /usr/local/bin/influxdb-entrypoint
USER influxdb
VOLUME /var/lib/influxdb
EXPOSE 8086
ENTRYPOINT ["influxdb-entrypoint"]
