#!/usr/bin/env bash
# Installs what the sandbox, the demo and the tests need, into git-ignored .tools/.
# Idempotent and quick when everything is present: each piece is pinned and stamped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
TEMPORAL_CLI_VERSION="v1.5.1" # later tags carry a replace directive and cannot be go-installed
TEMPORAL_GO_MODULE="$ROOT/scripts/temporal-cluster" # the wrapper module the CLI and the server build in
MOTO_REQUIREMENTS="$ROOT/test/sandbox/moto/requirements.txt"

log() { printf '[setup] %s\n' "$*"; }
mkdir -p "$TOOLS/bin"

# --- npm dependencies -------------------------------------------------------------------
if [ ! -f "$ROOT/node_modules/.package-lock.json" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
  log "installing npm dependencies (npm ci)"
  # npm 11 can refuse `npm ci` for a lockfile it wrote itself when optional platform packages
  # (@swc/core-*) are missing from it; `npm install` then installs the same locked versions.
  (cd "$ROOT" && { npm ci --no-audit --no-fund || { log "npm ci refused the lockfile; falling back to npm install"; npm install --no-audit --no-fund; }; })
fi

# --- Temporal CLI (dev server + Web UI) -------------------------------------------------
if [ -n "${TEMPORAL_CLI_PATH:-}" ] && [ -x "$TEMPORAL_CLI_PATH" ]; then
  log "temporal: using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"
elif command -v temporal >/dev/null 2>&1; then
  log "temporal: using $(command -v temporal) from PATH"
elif [ -x "$TOOLS/bin/temporal" ] && [ "$(cat "$TOOLS/bin/.temporal-version" 2>/dev/null)" = "$TEMPORAL_CLI_VERSION" ]; then
  : # already built
else
  command -v go >/dev/null 2>&1 || { log "temporal: no 'temporal' on PATH and no Go toolchain to build it; install Go 1.22+ or the Temporal CLI"; exit 1; }
  grep -q "^require github.com/temporalio/cli $TEMPORAL_CLI_VERSION\$" "$TEMPORAL_GO_MODULE/go.mod" ||
    { log "temporal: $TEMPORAL_GO_MODULE/go.mod does not require github.com/temporalio/cli $TEMPORAL_CLI_VERSION; keep them in step"; exit 1; }
  log "temporal: building the Temporal CLI $TEMPORAL_CLI_VERSION from Go modules (several minutes on 2 cores)"
  started=$SECONDS
  # Built in the wrapper module that the production-shaped server shares, so that one reuses these
  # compiled packages (scripts/temporal-cluster/go.mod says why).
  # -v lists each package as it compiles; print a heartbeat every 100 so the build visibly progresses.
  (cd "$TEMPORAL_GO_MODULE" && CGO_ENABLED=0 GOWORK=off go build -v -o "$TOOLS/bin/temporal" github.com/temporalio/cli/cmd/temporal) 2>&1 |
    awk '/^go: / { print "[setup] temporal: " $0; fflush(); next } { n++; if (n % 100 == 0) { print "[setup] temporal: compiled " n " packages"; fflush() } }'
  [ -x "$TOOLS/bin/temporal" ] || { log "temporal: build failed"; exit 1; }
  echo "$TEMPORAL_CLI_VERSION" > "$TOOLS/bin/.temporal-version"
  log "temporal: built in $((SECONDS - started))s"
fi

# --- Production-shaped Temporal (`--temporal cluster`): server, SQL tool, UI server, PostgreSQL --
# After the CLI, whose compiled packages it reuses (the same wrapper module): a minute or two cold.
if [ -f "$ROOT/scripts/setup-temporal-cluster.sh" ]; then
  bash "$ROOT/scripts/setup-temporal-cluster.sh"
fi

# --- moto (AWS emulator) in a venv ------------------------------------------------------
if [ -f "$MOTO_REQUIREMENTS" ]; then
  wanted="$(sha256sum "$MOTO_REQUIREMENTS" | cut -d' ' -f1)"
  if [ ! -x "$TOOLS/venv/bin/python" ] || [ "$(cat "$TOOLS/venv/.requirements-sha256" 2>/dev/null)" != "$wanted" ]; then
    log "moto: creating the Python venv in .tools/venv"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check -r "$MOTO_REQUIREMENTS"
    echo "$wanted" > "$TOOLS/venv/.requirements-sha256"
    log "moto: installed $("$TOOLS/venv/bin/python" -c 'import moto; print(moto.__version__)')"
  fi
fi

# --- Temporal's Java test server (time-skipping tests; optional: skipped without a JDK and Maven) --
# Two stamped steps: the jars (from the pom, via Maven) and our launcher (LoopbackTestServer.java,
# compiled against them), which serves the test server on 127.0.0.1 only: the jar's own main
# listens on every interface and has no option to choose the address.
TEST_SERVER_SRC="$ROOT/scripts/temporal-test-server"
TEST_SERVER_DIR="$TOOLS/temporal-test-server"
TEST_SERVER_BIN="$TOOLS/bin/temporal-test-server"
wanted="$(sha256sum "$TEST_SERVER_SRC/pom.xml" | cut -d' ' -f1)"
if ls "$TEST_SERVER_DIR"/lib/temporal-test-server-*.jar >/dev/null 2>&1 && [ "$(cat "$TEST_SERVER_DIR/.pom-sha256" 2>/dev/null)" = "$wanted" ]; then
  : # jars already resolved
elif command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
  log "temporal-test-server: resolving it and its dependencies from Maven Central"
  rm -rf "$TEST_SERVER_DIR" "$TEST_SERVER_BIN"
  if mvn -B -q -f "$TEST_SERVER_SRC/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$TEST_SERVER_DIR/lib" >"$TOOLS/temporal-test-server.log" 2>&1 &&
    ls "$TEST_SERVER_DIR"/lib/temporal-test-server-*.jar >/dev/null 2>&1; then
    echo "$wanted" >"$TEST_SERVER_DIR/.pom-sha256"
  else
    log "temporal-test-server: Maven failed (see .tools/temporal-test-server.log); time-skipping tests will be skipped"
  fi
else
  log "temporal-test-server: no java and mvn on PATH; time-skipping tests will be skipped (apt-get install openjdk-17-jdk-headless maven)"
fi
if [ -f "$TEST_SERVER_DIR/.pom-sha256" ]; then
  launcher="$(cat "$TEST_SERVER_DIR/.pom-sha256" "$TEST_SERVER_SRC/LoopbackTestServer.java" | sha256sum | cut -d' ' -f1)"
  if [ -x "$TEST_SERVER_BIN" ] && [ "$(cat "$TEST_SERVER_DIR/.launcher-sha256" 2>/dev/null)" = "$launcher" ]; then
    : # launcher already compiled for these jars
  elif command -v javac >/dev/null 2>&1; then
    # No wrapper until the launcher compiles: never a fallback to the jar's all-interfaces main.
    rm -rf "$TEST_SERVER_BIN" "$TEST_SERVER_DIR/launcher"
    if javac -nowarn -d "$TEST_SERVER_DIR/launcher" -cp "$TEST_SERVER_DIR/lib/*" "$TEST_SERVER_SRC/LoopbackTestServer.java" >"$TOOLS/temporal-test-server.log" 2>&1; then
      # @temporalio/testing runs it as `<path> <port>`, the way it runs the native build, and gives it
      # 5 s to listen: the JVM flags trade peak speed (not needed for tests) for a quicker start.
      # IPv4 sockets, so the listener is 127.0.0.1 itself rather than ::ffff:127.0.0.1 on an IPv6 socket.
      # shellcheck disable=SC2016 # $0 and $@ belong to the wrapper, not to this script
      printf '#!/bin/sh\nlib="$(dirname "$0")/../temporal-test-server"\nexec java -Djava.net.preferIPv4Stack=true -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$lib/launcher:$lib/lib/*" LoopbackTestServer "$@"\n' >"$TEST_SERVER_BIN"
      chmod +x "$TEST_SERVER_BIN"
      echo "$launcher" >"$TEST_SERVER_DIR/.launcher-sha256"
      log "temporal-test-server: installed $(basename "$TEST_SERVER_DIR"/lib/temporal-test-server-*.jar .jar), on 127.0.0.1 only"
    else
      log "temporal-test-server: the loopback launcher did not compile (see .tools/temporal-test-server.log); time-skipping tests will be skipped"
    fi
  else
    rm -f "$TEST_SERVER_BIN"
    log "temporal-test-server: no javac on PATH (a JRE only); time-skipping tests will be skipped (apt-get install openjdk-17-jdk-headless)"
  fi
fi

# --- Kubernetes (etcd, kube-apiserver, controller-manager, scheduler, kubectl, kwok) -----
if [ -f "$ROOT/scripts/setup-kube.sh" ] && [ "${TENANT_FLEET_SKIP_KUBE:-}" != "1" ]; then
  bash "$ROOT/scripts/setup-kube.sh"
fi

# --- Helm (the Kubernetes worker renders the tenant chart; npm test lints it) ------------
# After the Kubernetes build: both use the k8s.io modules v0.34.2, so a cold run downloads them once.
bash "$ROOT/scripts/setup-helm.sh"

# --- promtool (npm run lint:infra checks and unit-tests the alert rules; the metrics test runs the dashboard's queries) --
# Its own module graph (github.com/prometheus/prometheus), shared with nothing else here.
bash "$ROOT/scripts/setup-promtool.sh"

# --- docker-compose (validates docker-compose.yml in npm test; no Docker engine needed) ----
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "docker-compose: installing Debian's docker-compose to validate docker-compose.yml"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; } ||
      log "docker-compose: could not install it; the compose check will say so"
  else
    log "docker-compose: not installed (needs root and apt-get); install Docker Compose to validate docker-compose.yml"
  fi
fi

# --- infrastructure linters (npm run lint:infra): checkov, actionlint, shellcheck ---------
if [ -f "$ROOT/scripts/setup-lint.sh" ]; then
  bash "$ROOT/scripts/setup-lint.sh"
fi

log "ready"
