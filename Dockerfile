# Hopmail images: one build, one runtime layer set, one small final stage per process.
# Needs BuildKit (the default builder of Docker Engine 23 and later, and of `docker compose`
# v2; DOCKER_BUILDKIT=1 on older clients) for the RUN --mount cache mounts; no `# syntax=` line
# and no heredocs, so a build pulls no frontend image from Docker Hub and Debian bookworm's
# docker.io 20.10 builds it too (test/deploy/compose-e2e.test.ts does, in CI).
#
#   docker build --target smtp-ingress -t hopmail/smtp-ingress .   (likewise routing,
#   outbound-relay, dns-cache, pop3, imap, admin-api, housekeeper, migrate, and rspamd: Debian's
#   rspamd package, not Node)
#
# Each final stage's CMD is the command `pnpm start` runs for that service
# (packages/service-kit/src/services.ts), on the compiled tree `pnpm build` makes; test/deploy checks that
# they agree. CMDs are exec form, so SIGTERM reaches Node itself, whose service kit shuts
# down in order within SHUTDOWN_TIMEOUT_MS. Every process listens on unprivileged ports
# (2525, 1110, 5353, 8080, 91xx); 25/110/53 are mapped by compose or the Kubernetes Service,
# so the containers need no capabilities at all.

ARG NODE_IMAGE=node:24-slim
# Before the first FROM: an ARG that a FROM uses must be global (older BuildKit insists).
ARG RSPAMD_IMAGE=debian:bookworm-slim

# ---- build: all dependencies, type-check and compile, then production dependencies only
FROM ${NODE_IMAGE} AS build
ENV CI=true PNPM_HOME=/usr/local/pnpm PATH=/usr/local/pnpm:$PATH
RUN npm install -g pnpm@12.4.2
WORKDIR /src
# The lockfile alone fills the store: this layer is reused until dependencies change.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
# pnpm fetch applies patchedDependencies (patches/: smtp-server, mailauth, pg-protocol): the patches come first too.
COPY patches ./patches
RUN --mount=type=cache,id=hopmail-pnpm,target=/pnpm/store pnpm fetch --store-dir /pnpm/store
COPY . .
RUN --mount=type=cache,id=hopmail-pnpm,target=/pnpm/store pnpm install --frozen-lockfile --prefer-offline --store-dir /pnpm/store
RUN pnpm build
# dist/ is a workspace of its own (same lockfile): install what the compiled code needs to
# run, and nothing the tests need (test-kit, vitest, typescript stay out).
RUN --mount=type=cache,id=hopmail-pnpm,target=/pnpm/store cd dist \
 && pnpm install --prod --frozen-lockfile --prefer-offline --store-dir /pnpm/store --package-import-method copy \
      --filter hopmail --filter "@hopmail/*" --filter "!@hopmail/test-kit"

# ---- runtime: the compiled tree, owned by root and read-only to the service user
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/dist /app
# /var/lib/hopmail: state of the supervisor (generated admin token); a volume in compose.
# /etc/hopmail/certs: TLS certificate and key, mounted from a folder or a Secret.
RUN mkdir -p /var/lib/hopmail /etc/hopmail/certs && chown node:node /var/lib/hopmail
# The node image's unprivileged user (uid 1000); Kubernetes checks runAsNonRoot by uid.
USER 1000:1000

# ---- one stage per process. HEALTHCHECK asks the service kit's /healthz on the service's
# default HEALTH_PORT (slim images have no curl; Node has fetch).

FROM runtime AS migrate
CMD ["node", "packages/db/src/migrate-cli.js"]

FROM runtime AS smtp-ingress
EXPOSE 2525 2587 2465 9101
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9101)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/smtp-ingress/src/main.js"]

FROM runtime AS routing
EXPOSE 9102
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9102)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/routing/src/main.js"]

FROM runtime AS outbound-relay
EXPOSE 9103
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9103)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/outbound-relay/src/main.js"]

FROM runtime AS dns-cache
EXPOSE 5353/udp 5353/tcp 9104
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9104)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/dns-cache/src/main.js"]

FROM runtime AS pop3
EXPOSE 1110 1995 9105
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9105)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/pop3/src/main.js"]

FROM runtime AS imap
EXPOSE 1143 1993 9108
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9108)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/imap/src/main.js"]

FROM runtime AS admin-api
EXPOSE 8080 9106
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9106)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/admin-api/src/main.js"]

FROM runtime AS housekeeper
EXPOSE 9107
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||9107)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "services/housekeeper/src/main.js"]

# ---- rspamd, the content filter smtp-ingress asks at the end of DATA (RSPAMD_URL) and
# admin-api trains (RSPAMD_CONTROLLER_URL): Debian's package, as the tests run it, with a small
# local configuration: the normal worker on 11333 and the controller on 11334 on every
# interface (neither is published; the controller trusts only the private networks the
# cluster runs in), statistics (Bayes) in the cluster's Redis (host `redis`, as in compose and
# the Kubernetes base), database 1 (the queues use 0). Another Redis: mount a
# /etc/rspamd/local.d/redis.conf over this one.
FROM ${RSPAMD_IMAGE} AS rspamd
RUN apt-get update \
 && apt-get install -y --no-install-recommends rspamd curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && usermod -u 11333 _rspamd && groupmod -g 11333 _rspamd \
 && mkdir -p /run/rspamd && chown -R 11333:11333 /run/rspamd /var/lib/rspamd /var/log/rspamd
# Written with printf rather than COPY heredocs: Debian bookworm's Docker (20.10) has no heredocs
# without a `# syntax=` line, which would need Docker Hub.
RUN printf 'bind_socket = "*:11333";\n' > /etc/rspamd/override.d/worker-normal.inc \
 && printf 'bind_socket = "*:11334";\nsecure_ip = ["127.0.0.1", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];\n' > /etc/rspamd/override.d/worker-controller.inc \
 && printf 'enabled = false;\n' > /etc/rspamd/override.d/worker-proxy.inc \
 && printf 'type = "console";\nlevel = "notice";\n' > /etc/rspamd/override.d/logging.inc \
 && printf 'servers = "redis:6379";\ndb = "1";\n' > /etc/rspamd/local.d/redis.conf \
 && printf 'backend = "redis";\n' > /etc/rspamd/local.d/classifier-bayes.conf \
 && for m in spf dkim dmarc arc; do printf 'enabled = false;\n' > /etc/rspamd/local.d/$m.conf; done
# smtp-ingress has already checked SPF, DKIM, DMARC and ARC (INBOUND_AUTH) and sends the results
# with each /checkv2 request; this rule turns them into rspamd's own symbols, in place of the
# four modules switched off above (services/smtp-ingress/README.md, "rspamd").
COPY deploy/rspamd/hopmail.lua /etc/rspamd/rspamd.local.lua
# A fixed numeric uid: Kubernetes checks runAsNonRoot by uid (deploy/base/rspamd.yaml).
USER 11333:11333
EXPOSE 11333 11334
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:11333/ping"]
CMD ["rspamd", "-f"]

# The whole cluster in one container (`pnpm start`): migrations, then every service under the
# supervisor. For trying Hopmail out; compose and Kubernetes run one service per container.
FROM runtime AS all-in-one
EXPOSE 2525 2587 2465 1110 1995 8080
CMD ["node", "scripts/start.js"]
