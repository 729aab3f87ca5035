#!/usr/bin/env bash
# Builds Helm from Go modules into git-ignored .tools/bin/helm: the Kubernetes worker renders
# the tenant chart with `helm template`, and npm test lints and renders it (docs/helm.md).
# One `go install` of helm.sh/helm/v3/cmd/helm, pinned and stamped: a warm run does nothing.
# Cold (empty module and build caches) it costs about 2.6 CPU-minutes: 1.5-3 minutes on 2 idle
# cores (9.5 measured at load 25 on a shared machine). setup.sh runs it after the Kubernetes
# build, whose k8s.io modules (v0.34.2) it shares, so those are downloaded once.
set -euo pipefail

# v3.19.x is the Helm line built on the Kubernetes 1.34 libraries, the sandbox apiserver's
# version: `helm template` and `helm lint` assume that cluster version by default.
HELM_VERSION="v3.19.5"
HELM_K8S_MINOR="34"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"
STAMP="$BIN/.helm-stamp"

log() { printf '[setup] %s\n' "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

mkdir -p "$BIN"
LINE="helm $HELM_VERSION k8s 1.$HELM_K8S_MINOR"
if [ -x "$BIN/helm" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$LINE" ]; then
  log "helm $HELM_VERSION: up to date"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "helm: no Go toolchain on PATH; install Go 1.24+ (https://go.dev/dl/)"

# Two setups at once (npm test and npm run sandbox, say) must not build into the same files.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN/.helm-setup.lock"
  flock 9
  if [ -x "$BIN/helm" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$LINE" ]; then exit 0; fi
fi

export CGO_ENABLED=0
export GOWORK=off

# The stamps Helm's Makefile sets: `helm version` names the release, and lint/template assume
# the Kubernetes version of the libraries it was built with (not the 1.20 fallback).
LDFLAGS="-s -w"
LDFLAGS+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"

log "building helm $HELM_VERSION …"
started=$SECONDS
tmpbin="$(mktemp -d "$BIN/.helm-gobin.XXXXXX")"
buildlog="$ROOT/.tools/helm-build.log"
if ! GOBIN="$tmpbin" go install -p 2 -trimpath -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$buildlog" 2>&1 ||
  [ ! -x "$tmpbin/helm" ]; then
  rm -rf "$tmpbin"
  die "helm: go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed; its output is in .tools/helm-build.log"
fi
mv -f "$tmpbin/helm" "$BIN/helm"
rm -rf "$tmpbin" "$buildlog"
echo "$LINE" > "$STAMP"
log "built helm $HELM_VERSION in $((SECONDS - started))s"
