#!/bin/sh
# Start influxd; on the first start (no users yet) create the admin, the `kitt` database and its writer
# and reader users. Passwords come from the environment (the stack's 0600 .env); none has a default.
set -eu
for name in INFLUXDB_ADMIN_PASSWORD INFLUXDB_KITT_PASSWORD INFLUXDB_GRAFANA_PASSWORD; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || { echo "influxdb-entrypoint: $name is not set" >&2; exit 1; }
done
influxd run -config /etc/influxdb/influxdb.conf &
pid=$!
trap 'kill -TERM $pid; wait $pid' TERM INT
until curl -fsS -o /dev/null http://127.0.0.1:8086/ping; do
    kill -0 $pid 2>/dev/null || exit 1
    sleep 0.2
done
q() { curl -fsS -o /dev/null "$@" http://127.0.0.1:8086/query; }
if [ ! -e /var/lib/influxdb/.kitt-initialised ]; then
    q --data-urlencode "q=CREATE USER admin WITH PASSWORD '$INFLUXDB_ADMIN_PASSWORD' WITH ALL PRIVILEGES"
    auth="admin:$INFLUXDB_ADMIN_PASSWORD"
    q -u "$auth" --data-urlencode 'q=CREATE DATABASE kitt'
    q -u "$auth" --data-urlencode "q=CREATE USER kitt WITH PASSWORD '$INFLUXDB_KITT_PASSWORD'"
    q -u "$auth" --data-urlencode 'q=GRANT WRITE ON kitt TO kitt'
    q -u "$auth" --data-urlencode "q=CREATE USER grafana WITH PASSWORD '$INFLUXDB_GRAFANA_PASSWORD'"
    q -u "$auth" --data-urlencode 'q=GRANT READ ON kitt TO grafana'
    touch /var/lib/influxdb/.kitt-initialised
fi
wait $pid
