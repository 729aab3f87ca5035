#!/usr/bin/env bash
# Builds promtool from Go modules into git-ignored .tools/bin/promtool: `npm run lint:infra`
# checks and unit-tests the Prometheus alert rules with it (infra/prometheus/, docs/operators.md),
# and the metrics integration test evaluates the Grafana dashboard's queries against a live scrape.
# One `go install` of github.com/prometheus/prometheus/cmd/promtool only (not the server, its web
# UI assets or service discovery plugins), pinned and stamped: a warm run does nothing.
# Cold (empty module and build caches) it costs about 12 CPU-minutes (11.6 measured, 1.8 GB of modules):
# some 6 minutes of wall time on 2 idle cores, 98 measured on this shared machine at load 25-30 (docs/testing.md).
set -euo pipefail

# Prometheus 3.16.0: the Go module's tags are v0.<major><minor>.<patch>.
PROMETHEUS_MODULE_VERSION="v0.316.0"
PROMETHEUS_VERSION="3.16.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"
STAMP="$BIN/.promtool-stamp"

log() { printf '[setup] %s\n' "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

mkdir -p "$BIN"
LINE="promtool $PROMETHEUS_VERSION ($PROMETHEUS_MODULE_VERSION)"
if [ -x "$BIN/promtool" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$LINE" ]; then
  log "promtool $PROMETHEUS_VERSION: up to date"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "promtool: no Go toolchain on PATH; install Go 1.26+ (https://go.dev/dl/)"

# Two setups at once (npm test and npm run sandbox, say) must not build into the same files.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN/.promtool-setup.lock"
  flock 9
  if [ -x "$BIN/promtool" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$LINE" ]; then exit 0; fi
fi

export CGO_ENABLED=0
export GOWORK=off

# The stamps Prometheus' release build sets, so `promtool --version` names the release.
LDFLAGS="-s -w"
LDFLAGS+=" -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
LDFLAGS+=" -X github.com/prometheus/common/version.Branch=HEAD"
LDFLAGS+=" -X github.com/prometheus/common/version.BuildUser=tenant-fleet-setup"

log "building promtool $PROMETHEUS_VERSION from Go modules (about 12 CPU-minutes cold) …"
started=$SECONDS
tmpbin="$(mktemp -d "$BIN/.promtool-gobin.XXXXXX")"
buildlog="$ROOT/.tools/promtool-build.log"
# -v names each package as it compiles: a heartbeat every 100 shows the cold build progressing.
if ! GOBIN="$tmpbin" go install -v -p 2 -trimpath -tags netgo -ldflags "$LDFLAGS" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" 2>&1 |
  tee "$buildlog" |
  awk '/^go: / { next } { n++; if (n % 100 == 0) { printf "[setup] promtool: compiled %d packages\n", n; fflush() } }' ||
  [ ! -x "$tmpbin/promtool" ]; then
  rm -rf "$tmpbin"
  die "promtool: go install github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION failed; its output is in .tools/promtool-build.log"
fi
mv -f "$tmpbin/promtool" "$BIN/promtool"
rm -rf "$tmpbin" "$buildlog"
echo "$LINE" > "$STAMP"
log "built promtool $PROMETHEUS_VERSION in $((SECONDS - started))s"
