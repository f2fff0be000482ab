# The gateway image: built with tsc, run as an unprivileged user, state in the /data volume.
#   docker build -t community-iot-gateway .
#   docker run -p 1883:1883 -p 8080:8080 -v gw-data:/data -e ADMIN_TOKEN=... community-iot-gateway
# The same image runs the simulators: docker run ... community-iot-gateway node dist/simulators/cli.js --help

# Both stages on the same Debian release, so the native module built in the first stage
# (better-sqlite3) links against the same glibc in the second.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 installs a prebuilt binary when one matches; without one (other CPU, no network to
# its release host) it compiles from source, which needs python3, make and a C++ compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# dependencies first, so a source change does not reinstall them (layer cache)
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    DATA_DIR=/data
WORKDIR /app
# The whole pruned tree, not only dist/: files the gateway reads next to its code at run time (the
# operator console's static files, for one) stay where the code expects them. Owned by root and
# read-only to the process: only /data is writable.
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
# `node` (uid 1000) comes with the official image; all ports are above 1024, so no capability is needed
USER node
VOLUME ["/data"]
# MQTT, MQTT over TLS (only with a certificate), HTTP (API, console, /metrics, MQTT over WebSocket)
EXPOSE 1883 8883 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node directly as PID 1 (no npm): SIGTERM reaches the gateway, which closes cleanly (gateway/main.ts)
CMD ["node", "--max-semi-space-size=64", "dist/gateway/main.js"]
