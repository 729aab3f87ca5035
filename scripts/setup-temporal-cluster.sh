#!/usr/bin/env bash
# The production-shaped Temporal (`--temporal cluster`, docs/sandbox.md): builds into git-ignored
# .tools/ what the sandbox runs in place of the dev server, and installs PostgreSQL when missing.
#   .tools/temporal-server/bin/server  Temporal server (frontend, history, matching, worker)
#   .tools/temporal-server/bin/sql     Temporal's SQL tool (creates and migrates the schemas)
#   .tools/temporal-ui-server/bin/server  the standalone Web UI server
#   /usr/lib/postgresql/<n>/bin        Debian's PostgreSQL (apt-get, as root only)
# All three are built in the wrapper module scripts/temporal-cluster/ with the Temporal CLI of
# scripts/setup.sh, on the CLI's dependency graph, so nearly every package is already compiled
# (docs/testing.md, "Cold setup"). Idempotent: each build is stamped with its version and rebuilt
# only when that changes.
set -euo pipefail

TEMPORAL_SERVER_VERSION="v1.29.1" # go.temporal.io/server in github.com/temporalio/cli v1.5.1's go.mod
TEMPORAL_UI_SERVER_VERSION="v2.42.1" # github.com/temporalio/ui-server/v2 in the same go.mod

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
MODULE="$ROOT/scripts/temporal-cluster"
log() { printf '[setup] %s\n' "$*"; }

# Two setups at once (npm test and npm run sandbox, say) must not build into the same files.
mkdir -p "$TOOLS"
if command -v flock >/dev/null 2>&1; then
  exec 8>"$TOOLS/.temporal-cluster-setup.lock"
  flock 8
fi

# go_build <name> <dir> <version> <module> <package...>: builds the packages into <dir>/bin once per
# version, in the wrapper module, which must require <module> at <version>.
go_build() {
  local name="$1" dir="$2" version="$3" module="$4" started
  shift 4
  if [ -x "$dir/bin/server" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || { log "$name: no Go toolchain on PATH to build it; install Go 1.22+"; exit 1; }
  (cd "$MODULE" && GOWORK=off go list -m -f '{{.Version}}' "$module") | grep -qx "$version" ||
    { log "$name: scripts/temporal-cluster/go.mod does not select $module $version; keep the versions in step"; exit 1; }
  log "$name: building $version from Go modules (reuses the Temporal CLI's compiled packages)"
  started=$SECONDS
  rm -rf "${dir:?}/bin" "${dir:?}/.version"
  mkdir -p "$dir/bin"
  # -v lists each package as it compiles; print a heartbeat every 100 so the build visibly progresses.
  # The CLI's flags (CGO off, no -trimpath), so its compiled packages are reused rather than rebuilt.
  (cd "$MODULE" && CGO_ENABLED=0 GOWORK=off go build -v -o "$dir/bin/" "$@") 2>&1 |
    awk -v n0="$name" '/^go: / { print "[setup] " n0 ": " $0; fflush(); next } { n++; if (n % 100 == 0) { print "[setup] " n0 ": compiled " n " packages"; fflush() } }'
  [ -x "$dir/bin/server" ] || { log "$name: build failed"; exit 1; }
  echo "$version" >"$dir/.version"
  log "$name: built in $((SECONDS - started))s"
}

go_build temporal-server "$TOOLS/temporal-server" "$TEMPORAL_SERVER_VERSION" go.temporal.io/server \
  go.temporal.io/server/cmd/server go.temporal.io/server/cmd/tools/sql
[ -x "$TOOLS/temporal-server/bin/sql" ] || { log "temporal-server: the SQL tool is missing from the build"; exit 1; }
go_build temporal-ui-server "$TOOLS/temporal-ui-server" "$TEMPORAL_UI_SERVER_VERSION" github.com/temporalio/ui-server/v2 \
  github.com/temporalio/ui-server/v2/cmd/server

# --- PostgreSQL (Debian's packages) ------------------------------------------------------
if [ -n "${TENANT_FLEET_POSTGRES_BIN:-}" ] || compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  : # present (test/sandbox/tools.ts finds it)
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  log "postgresql: installing Debian's postgresql for the production-shaped Temporal"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } ||
    log "postgresql: could not install it; \`--temporal cluster\` and its integration test will say so"
  # Debian's package starts a cluster of its own on port 5432; the sandbox runs its own servers only.
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for conf in /etc/postgresql/*/main; do
      [ -d "$conf" ] || continue
      version="$(basename "$(dirname "$conf")")"
      pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
    done
  fi
else
  log "postgresql: not installed (needs root and apt-get); install Debian's postgresql or set TENANT_FLEET_POSTGRES_BIN for \`--temporal cluster\`"
fi
