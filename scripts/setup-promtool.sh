#!/usr/bin/env bash
# Builds promtool from Go modules into git-ignored .tools/bin/promtool: `npm run lint:infra`
# checks and unit-tests the Prometheus alert rules with it (infra/prometheus/, docs/operators.md),
# and the metrics integration test evaluates the Grafana dashboard's queries against a live scrape.
# One `go install` of github.com/prometheus/prometheus/cmd/promtool only (not the server, its web
# UI assets or service discovery plugins), pinned and stamped: a warm run does nothing.
# Cold (empty module and build caches) it costs about 12 CPU-minutes (11.6 measured, 1.8 GB of modules):
# some 6 minutes of wall time on 2 idle cores, 98 measured on this shared machine at load 25-30 (docs/testing.md).
set -euo pipefail
# shellcheck source=scripts/go-install-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-install-lib.sh"

# Prometheus 3.16.0: the Go module's tags are v0.<major><minor>.<patch>.
PROMETHEUS_MODULE_VERSION="v0.316.0"
PROMETHEUS_VERSION="3.16.0"

# The stamps Prometheus' release build sets, so `promtool --version` names the release.
LDFLAGS="-s -w"
LDFLAGS+=" -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
LDFLAGS+=" -X github.com/prometheus/common/version.Branch=HEAD"
LDFLAGS+=" -X github.com/prometheus/common/version.BuildUser=tenant-fleet-setup"

go_install_pinned promtool "promtool $PROMETHEUS_VERSION ($PROMETHEUS_MODULE_VERSION)" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" "$LDFLAGS" -tags netgo
