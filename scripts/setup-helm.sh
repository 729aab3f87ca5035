#!/usr/bin/env bash
# Builds Helm from Go modules into git-ignored .tools/bin/helm: the Kubernetes worker renders
# the tenant chart with `helm template`, and npm test lints and renders it (docs/helm.md).
# One `go install` of helm.sh/helm/v3/cmd/helm, pinned and stamped: a warm run does nothing.
# Cold (empty module and build caches) it costs about 2.6 CPU-minutes: 1.5-3 minutes on 2 idle
# cores (9.5 measured at load 25 on a shared machine). setup.sh runs it after the Kubernetes
# build, whose k8s.io modules (v0.34.2) it shares, so those are downloaded once.
set -euo pipefail
# shellcheck source=scripts/go-install-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-install-lib.sh"

# v3.19.x is the Helm line built on the Kubernetes 1.34 libraries, the sandbox apiserver's
# version: `helm template` and `helm lint` assume that cluster version by default.
HELM_VERSION="v3.19.5"
HELM_K8S_MINOR="34"

# The stamps Helm's Makefile sets: `helm version` names the release, and lint/template assume
# the Kubernetes version of the libraries it was built with (not the 1.20 fallback).
LDFLAGS="-s -w"
LDFLAGS+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"

go_install_pinned helm "helm $HELM_VERSION k8s 1.$HELM_K8S_MINOR" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$LDFLAGS"
