#!/usr/bin/env bash
# Base images for the compose end-to-end test, made without any registry: a Debian root
# filesystem from debootstrap (Debian's own mirror), then Node.js 24 (the binary the repository's
# `node` dev dependency installed, and this machine's npm), PostgreSQL and Redis from Debian's
# packages behind entrypoints that take the official images' settings. The shipped files keep
# the official names (node:24-slim, postgres:17, redis:7, debian:bookworm-slim);
# compose.ci.yml and the test's build arguments swap these in. Idempotent: an image that exists
# is kept (HOPMAIL_CI_REBUILD=1 makes them again).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
DOCKER="${DOCKER:-docker}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
log() { printf '[ci-images] %s\n' "$*" >&2; }
have() { [ "${HOPMAIL_CI_REBUILD:-0}" != 1 ] && "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! have hopmail-ci/debian:$SUITE; then
  log "debootstrap $SUITE (minbase) from $MIRROR"
  debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { cat "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | "$DOCKER" import -c 'CMD ["bash"]' - hopmail-ci/debian:$SUITE >/dev/null
  rm -rf "$work/rootfs"
fi

if ! have hopmail-ci/node:24-slim; then
  log "node 24 image"
  node_bin="$(cd "$repo" && pnpm exec node -p process.execPath)"
  npm_dir="$(npm root -g)/npm"
  mkdir -p "$work/node"
  cp "$node_bin" "$work/node/node"
  cp -r "$npm_dir" "$work/node/npm"
  # What this machine trusts, the image trusts: behind an egress proxy with its own CA, npm and
  # pnpm in the build reach the registry only so. (Without one: Debian's bundle, harmless.)
  cp "${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" "$work/node/ca-certificates.crt"
  cat >"$work/node/Dockerfile" <<'DOCKERFILE'
FROM hopmail-ci/debian:bookworm
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/bash node \
 && node --version && npm --version
CMD ["node"]
DOCKERFILE
  "$DOCKER" build -q -t hopmail-ci/node:24-slim "$work/node" >/dev/null
fi

if ! have hopmail-ci/postgres:17; then
  log "PostgreSQL image (Debian's postgresql)"
  mkdir -p "$work/postgres"
  cp "$here/postgres-entrypoint.sh" "$work/postgres/entrypoint.sh"
  cat >"$work/postgres/Dockerfile" <<'DOCKERFILE'
FROM hopmail-ci/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["postgres"]
DOCKERFILE
  "$DOCKER" build -q -t hopmail-ci/postgres:17 "$work/postgres" >/dev/null
fi

if ! have hopmail-ci/redis:7; then
  log "Redis image (Debian's redis-server)"
  mkdir -p "$work/redis"
  cat >"$work/redis/entrypoint.sh" <<'SH'
#!/bin/sh
# As the official image: a redis-server command runs without protected mode (the container
# network is the boundary) and as the redis user, in /data.
set -e
if [ "$1" = redis-server ]; then
  shift
  chown -R redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$@" --protected-mode no
fi
exec "$@"
SH
  chmod +x "$work/redis/entrypoint.sh"
  cat >"$work/redis/Dockerfile" <<'DOCKERFILE'
FROM hopmail-ci/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data
COPY entrypoint.sh /usr/local/bin/entrypoint.sh
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["redis-server"]
DOCKERFILE
  "$DOCKER" build -q -t hopmail-ci/redis:7 "$work/redis" >/dev/null
fi
log "base images ready"
