#!/usr/bin/env bash
# CI check for docker-compose.yml (no Docker engine is needed):
#  1. `docker compose config -q` (or the standalone docker-compose) validates the file against
#     the Compose spec with a throwaway env file from scripts/compose-env.sh;
#  2. every image, in the compose file and in every Dockerfile's FROM, has a pinned tag
#     (present, not `latest`, and carrying a version number).
# Without any compose binary it falls back to a YAML parse plus check 2, and says so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[check-compose] %s\n' "$*"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/compose-env.sh "$tmp/compose.env" >/dev/null

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
  compose=(docker-compose)
else
  compose=()
fi

if [ "${#compose[@]}" -gt 0 ]; then
  log "validating docker-compose.yml with: ${compose[*]} config ($("${compose[@]}" version --short 2>/dev/null || echo '?'))"
  "${compose[@]}" --env-file "$tmp/compose.env" -f docker-compose.yml config -q
  # Without the secrets the stack must refuse to start rather than run with empty keys.
  : > "$tmp/empty.env"
  if refusal="$(env -u TENANT_FLEET_CODEC_KEYS -u TENANT_FLEET_CODEC_UI_TOKEN -u TENANT_FLEET_CODEC_UI_TOKEN_SHA256 \
      "${compose[@]}" --env-file "$tmp/empty.env" -f docker-compose.yml config -q 2>&1)"; then
    log "FAIL: docker-compose.yml validates without TENANT_FLEET_CODEC_KEYS; it must require them"
    exit 1
  elif ! grep -q "compose-env.sh" <<<"$refusal"; then
    log "FAIL: without its secrets docker-compose.yml should point at scripts/compose-env.sh; it said: $refusal"
    exit 1
  fi
else
  if [ "${CI:-}" = "true" ]; then
    # CI must validate against the Compose spec itself; scripts/setup.sh installs docker-compose.
    log "FAIL: no 'docker compose' or 'docker-compose' in CI (scripts/setup.sh installs Debian's docker-compose)"
    exit 1
  fi
  log "no 'docker compose' or 'docker-compose' here: falling back to a YAML parse and the pinned-tag check only"
fi

node - <<'NODE'
const { readFileSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');

const problems = [];
// name[:tag][@digest]; a tag must contain a digit (16.4-bookworm, 1.30.1), `latest` never.
const pinned = (ref) => {
  if (/@sha256:[0-9a-f]{64}$/.test(ref)) return true;
  const match = /^(?:[^/]+\/)*[^/:]+:([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(ref);
  return Boolean(match) && match[1] !== 'latest' && /\d/.test(match[1]) && !ref.includes('${');
};

const compose = parse(readFileSync('docker-compose.yml', 'utf8'));
if (!compose || typeof compose.services !== 'object') problems.push('docker-compose.yml: expected a top-level "services" map');
for (const [name, service] of Object.entries(compose?.services ?? {})) {
  if (!service.image && !service.build) problems.push(`services.${name}: expected "image" or "build"`);
  if (service.image && !service.build && !pinned(service.image)) problems.push(`services.${name}.image: expected a pinned tag such as name:1.2.3, not latest or untagged (got "${service.image}")`);
  if (service.build && service.image && /:latest$|^[^:]+$/.test(service.image)) problems.push(`services.${name}.image: a locally built image still needs an explicit non-latest tag (got "${service.image}")`);
  for (const port of service.ports ?? []) {
    if (!String(port).startsWith('127.0.0.1:')) problems.push(`services.${name}.ports: expected every published port bound to 127.0.0.1 (got "${port}")`);
  }
}

const dockerfiles = ['Dockerfile', ...readdirSync('infra/compose').filter((f) => f.endsWith('Dockerfile')).map((f) => join('infra/compose', f))];
for (const file of dockerfiles) {
  const stages = new Set();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const from = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!from) continue;
    if (!stages.has(from[1]) && !pinned(from[1])) problems.push(`${file}: FROM ${from[1]}: expected a pinned tag such as node:20.19.5-bookworm-slim`);
    if (from[2]) stages.add(from[2]);
  }
}

if (problems.length > 0) {
  console.error(`[check-compose] FAIL:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`[check-compose] images pinned: ${Object.keys(compose.services).length} services, ${dockerfiles.length} Dockerfiles`);
NODE
log "ok"
