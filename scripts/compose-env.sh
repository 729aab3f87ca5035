#!/usr/bin/env bash
# Writes the secrets docker-compose.yml interpolates: the payload keyring and the token the
# laptop UI uses to reach the codec server. Default output is git-ignored .sandbox/compose.env:
#   bash scripts/compose-env.sh && docker compose --env-file .sandbox/compose.env up --build
# An existing file is kept (its key decrypts the stack's existing history); pass a new path
# to make another. Rotation: put a new "id:key" first in TENANT_FLEET_CODEC_KEYS, keep the old.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/.sandbox/compose.env}"
if [ -f "$OUT" ]; then
  echo "[compose-env] keeping $OUT"
  exit 0
fi
mkdir -p "$(dirname "$OUT")"
key="$(openssl rand -base64 32)"
token="$(openssl rand -hex 24)"
digest="$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
umask 077
cat > "$OUT" <<ENV
# Written by scripts/compose-env.sh; secrets, never commit.
TENANT_FLEET_CODEC_KEYS=compose-$(date -u +%Y%m%d):$key
TENANT_FLEET_CODEC_UI_TOKEN=$token
TENANT_FLEET_CODEC_UI_TOKEN_SHA256=$digest
ENV
echo "[compose-env] wrote $OUT"
