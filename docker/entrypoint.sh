#!/bin/sh
# KITT's images start as root only to hand the process to the unprivileged `kitt` user: with the group of
# a mounted Docker socket (so the docker runtime reaches the daemon) and owning a results folder that was
# mounted root-owned and empty (docker creates a missing bind-mount source as root).
set -eu
if [ "$(id -u)" != 0 ]; then exec "$@"; fi
groups=kitt
if [ -S /var/run/docker.sock ]; then
  gid="$(stat -c %g /var/run/docker.sock)"
  groups="$groups,$gid"
fi
home="${KITT_HOME:-/app/kitt-results}"
mkdir -p "$home"
if [ "$(stat -c %u "$home")" = 0 ] && [ -z "$(ls -A "$home")" ]; then chown kitt:kitt "$home"; fi
exec setpriv --reuid=kitt --regid=kitt --groups="$groups" --inh-caps=-all env HOME=/home/kitt "$@"
