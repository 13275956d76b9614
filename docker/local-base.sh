#!/usr/bin/env bash
# Makes kitt/debian:bookworm, a Debian bookworm base image, from the Debian mirror this machine already uses
# (debootstrap, minbase), for a Docker host that reaches no image registry. Nothing to do when it exists.
# KITT's Dockerfiles then build on it: KITT_BASE_IMAGE=kitt/debian:bookworm (or --build-arg BASE=...).
set -euo pipefail
IMAGE="${1:-kitt/debian:bookworm}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
command -v debootstrap >/dev/null || { echo "local-base.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
MIRROR="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -5 "$WORK/debootstrap.log" >&2; exit 1; }
rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
tar -C "$WORK/rootfs" -c . | docker import -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "made $IMAGE from $MIRROR"
