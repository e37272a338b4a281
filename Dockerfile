# The sessionstore-sidecar image: plain JavaScript from `npm run build`, production
# dependencies only, run as a numeric non-root user on a read-only root filesystem.
#
# The base is pinned to an exact Node.js release tag. It is not pinned by digest: no
# public source we could check names the digest of this tag, and a digest nobody
# verified is worse than none. Pin it in your registry mirror when you import it.
# NODE_BASE exists for builds that cannot pull it: the lab builds the same shape from
# Debian and Node's own binary (lab/image/base.ts) under a name of its own.
# test/ship/dockerfile.test.ts fails on an unpinned base, a root user or a missing stage.
ARG NODE_BASE=node:24.21.0-trixie-slim

# 1. build: the TypeScript compiler turns src/ into dist/.
FROM ${NODE_BASE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
# No install scripts: the dev toolchain needs none to compile, and none should run.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json
# The software bill of materials of the production dependencies, from the same lockfile,
# by CycloneDX's own tool (`npm sbom --omit=dev` leaves out yaml, which ships).
RUN npx cyclonedx-npm --omit dev --output-format JSON --output-file sbom.cdx.json

# 2. production-dependencies: exactly what `npm ci --omit=dev` installs, nothing else,
# less the packages' source maps (220 files): nothing maps a stack trace at run time.
FROM ${NODE_BASE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force && find node_modules -name '*.map' -delete

# 3. runtime: the same base, the production install and dist/, owned by root and only
# readable by the sidecar's user, so nothing it runs can rewrite its own code.
FROM ${NODE_BASE} AS runtime
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY --from=build /build/sbom.cdx.json ./
COPY package.json ./
ENV NODE_ENV=production
# Heap settings chosen by the benchmarks (docs/benchmarks.md, "Where the tail comes from"): a bounded old
# generation, so the container's memory limit is never met by garbage the collector
# had not yet needed to collect, and a young generation sized for the request rate.
ENV NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=4"
# 65532: the conventional "nonroot" UID. Inject gives the sidecar the service's own UID
# in a pod (it must signal the service); this is the default for any other run.
USER 65532:65532
EXPOSE 8089 9364
# Exec form: node is PID 1 itself, no shell, and it handles SIGTERM and SIGINT
# (graceful depool and drain); the base image's docker-entrypoint.sh is bypassed.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["--config", "/etc/sessionstore-sidecar/config.yaml"]
