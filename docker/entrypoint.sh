#!/bin/sh
# KITT's images start as root only to hand the process to an unprivileged user: `kitt`, or KITT_UID and
# KITT_GID (a `kitt stack` sets them to the owner of its files, so its secrets can stay 0600), with the
# group of a mounted Docker socket (so the docker runtime reaches the daemon), owning a results folder
# that was mounted root-owned and empty (docker makes a missing bind-mount source, and a volume, as root).
set -eu
if [ "$(id -u)" != 0 ]; then exec "$@"; fi
uid="${KITT_UID:-1000}"
gid="${KITT_GID:-1000}"
if [ "$uid" = 0 ]; then uid=1000; gid=1000; fi  # never root
groups="$gid"
if [ -S /var/run/docker.sock ]; then groups="$groups,$(stat -c %g /var/run/docker.sock)"; fi
home="${KITT_HOME:-/app/kitt-results}"
mkdir -p "$home"
if [ "$(stat -c %u "$home")" != "$uid" ] && [ -z "$(ls -A "$home")" ]; then chown "$uid:$gid" "$home"; fi
exec setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --inh-caps=-all env HOME=/home/kitt "$@"
