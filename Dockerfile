# Worker and codec-server image. Built from a clean checkout:
#   docker build -t tenant-fleet:<git sha> .
# One image, two entry points: the workers (default) and the codec server
# (`node dist/codec-server/main.js`). Base images are pinned by tag; pin by digest too in
# your registry mirror if your policy asks for it.

# --- build: compile TypeScript and bundle the workflow code once -----------------------
FROM node:20.19.5-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-workflow-bundle.ts ./scripts/
# `npm run build` = tsc to dist/ + dist/workflow-bundle.js, which workers load instead of
# running webpack at start (faster start, and the exact code that was reviewed).
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- helm: the Kubernetes worker renders the tenant chart with `helm template` ------------
# Built from Go modules by the same script as for development (one pin: scripts/setup-helm.sh).
FROM golang:1.26.8-bookworm AS helm
WORKDIR /src
COPY scripts/setup-helm.sh ./scripts/
COPY scripts/go-install-lib.sh ./scripts/
RUN bash scripts/setup-helm.sh

# --- runtime: production dependencies, compiled code, the templates activities apply -----
FROM node:20.19.5-bookworm-slim
COPY --from=helm /src/.tools/bin/helm /usr/local/bin/helm
ENV NODE_ENV=production \
    TENANT_FLEET_HELM=/usr/local/bin/helm \
    TENANT_FLEET_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    TENANT_FLEET_METRICS_PORT=9464 \
    TENANT_FLEET_HEALTH_PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Activities render infra/ templates (CloudFormation, the tenant Helm chart) at run time.
COPY infra ./infra
USER node
EXPOSE 8080 9464
# node as PID 1 receives SIGTERM directly and drains (src/workers/main.ts); no shell in between.
CMD ["node", "dist/workers/main.js"]
