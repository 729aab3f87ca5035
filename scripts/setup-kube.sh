#!/usr/bin/env bash
# Builds the sandbox's Kubernetes pieces from Go modules into git-ignored .tools/bin:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (our wrapper
#   modules in test/sandbox/kube/ and test/sandbox/kube/etcd/)
#   kwok, kwokctl                                                          (go install)
# Needs only a Go toolchain (1.26+) and the Go module proxy. Idempotent: a binary is rebuilt
# only when it is missing or its line in .tools/bin/.kube-stamp (version + hash of the
# wrapper module's files) differs. Builds run one at a time with `go build -p 2`
# (2-core machines); a cold run takes a while, a warm one about a second.
set -euo pipefail

# --- pinned versions (the wrapper go.mod files must agree; this script checks) -----------
KUBE_VERSION="v1.34.2"     # k8s.io/kubernetes; every staging module replaced by v0.34.2
ETCD_VERSION="v3.6.16"     # go.etcd.io/etcd/server/v3
KWOK_VERSION="v0.8.0"      # sigs.k8s.io/kwok/cmd/{kwok,kwokctl}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"
KUBE_MOD="$ROOT/test/sandbox/kube"
ETCD_MOD="$KUBE_MOD/etcd"
STAMP="$BIN/.kube-stamp"

log() { printf '[setup] %s\n' "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "kube: no Go toolchain on PATH; install Go 1.26+ (https://go.dev/dl/)"
mkdir -p "$BIN"

# Two setups at once (npm test and npm run sandbox, say) must not build into the same files.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN/.kube-setup.lock"
  flock 9
fi

export CGO_ENABLED=0
export GOWORK=off         # never let a go.work elsewhere in the tree change what we build

# The wrapper modules pin the same versions; refuse to build something other than what is stamped.
# (Read from go.mod text, not `go list`, so an up-to-date run needs neither network nor module cache.)
mod_version() {
  awk -v m="$2" '/=>/ { next } { sub(/^require[ \t]+/, ""); if ($1 == m) { print $2; exit } }' "$1/go.mod"
}
check_pin() {
  local dir="$1" module="$2" want="$3" got
  got="$(mod_version "$dir" "$module")"
  [ "$got" = "$want" ] || die "kube: $dir/go.mod has $module $got but scripts/setup-kube.sh pins $want; update one of them"
}

# What a binary was built from: the version plus a hash of the wrapper module's inputs.
inputs_hash() {
  (cd "$1" && find . -path ./etcd -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
}
stamp_of() { grep -E "^$1 " "$STAMP" 2>/dev/null | head -n1 || true; }
write_stamp() {
  local name="$1" line="$2" tmp
  tmp="$(mktemp "$BIN/.kube-stamp.XXXXXX")"
  { grep -vE "^$name " "$STAMP" 2>/dev/null || true; echo "$line"; } | LC_ALL=C sort > "$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$STAMP"
}
up_to_date() { [ -x "$BIN/$1" ] && [ "$(stamp_of "$1")" = "$2" ]; }

# -v lists each package as it compiles; print a heartbeat every 200 so a long build visibly moves.
heartbeat() {
  awk -v name="$1" '/^go: downloading / { if (d++ % 100 == 0) { print "[setup] " name ": downloading modules (" d ")"; fflush() } next }
    /^go: |^# |\.go:[0-9]+:/ { print "[setup] " name ": " $0; fflush(); next }
    { n++; if (n % 200 == 0) { print "[setup] " name ": compiled " n " packages"; fflush() } }'
}

# build NAME DIR PKG VERSION LDFLAGS: go build in a wrapper module, atomically into $BIN.
build() {
  local name="$1" dir="$2" pkg="$3" version="$4" ldflags="$5" line started tmp
  line="$name $version $(inputs_hash "$dir")"
  if up_to_date "$name" "$line"; then
    log "$name $version: up to date"
    return
  fi
  log "building $name $version …"
  started=$SECONDS
  tmp="$BIN/.$name.tmp.$$"
  if ! (cd "$dir" && go build -v -p 2 -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg") 2>&1 | heartbeat "$name" ||
    [ ! -x "$tmp" ]; then
    rm -f "$tmp"
    die "$name: build failed (run: cd $dir && CGO_ENABLED=0 go build -trimpath $pkg)"
  fi
  mv -f "$tmp" "$BIN/$name"
  write_stamp "$name" "$line"
  log "built $name $version in $((SECONDS - started))s"
}

# install NAME PKG VERSION: go install module@version into $BIN (kwok, kwokctl).
install_tool() {
  local name="$1" pkg="$2" version="$3" line started tmpbin
  line="$name $version"
  if up_to_date "$name" "$line"; then
    log "$name $version: up to date"
    return
  fi
  log "building $name $version …"
  started=$SECONDS
  tmpbin="$(mktemp -d "$BIN/.gobin.XXXXXX")"
  if ! GOBIN="$tmpbin" go install -v -p 2 -trimpath -ldflags "-s -w" "$pkg@$version" 2>&1 | heartbeat "$name" ||
    [ ! -x "$tmpbin/$name" ]; then
    rm -rf "$tmpbin"
    die "$name: go install $pkg@$version failed"
  fi
  mv -f "$tmpbin/$name" "$BIN/$name"
  rm -rf "$tmpbin"
  write_stamp "$name" "$line"
  log "built $name $version in $((SECONDS - started))s"
}

kube_minor="${KUBE_VERSION#v1.}"; kube_minor="${kube_minor%%.*}"
KUBE_LDFLAGS="-s -w"
KUBE_LDFLAGS+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
KUBE_LDFLAGS+=" -X k8s.io/component-base/version.gitMajor=1"
KUBE_LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=$kube_minor"
KUBE_LDFLAGS+=" -X k8s.io/component-base/version.gitTreeState=clean"
# kubectl reports its client version from client-go's copy of the same variables.
KUBECTL_LDFLAGS="$KUBE_LDFLAGS"
KUBECTL_LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
KUBECTL_LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitMajor=1"
KUBECTL_LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitMinor=$kube_minor"
KUBECTL_LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitTreeState=clean"

total_started=$SECONDS
check_pin "$KUBE_MOD" k8s.io/kubernetes "$KUBE_VERSION"
check_pin "$ETCD_MOD" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"

build etcd                    "$ETCD_MOD" .                              "$ETCD_VERSION" "-s -w"
build kube-apiserver          "$KUBE_MOD" ./cmd/kube-apiserver          "$KUBE_VERSION" "$KUBE_LDFLAGS"
build kube-controller-manager "$KUBE_MOD" ./cmd/kube-controller-manager "$KUBE_VERSION" "$KUBE_LDFLAGS"
build kube-scheduler          "$KUBE_MOD" ./cmd/kube-scheduler          "$KUBE_VERSION" "$KUBE_LDFLAGS"
build kubectl                 "$KUBE_MOD" ./cmd/kubectl                 "$KUBE_VERSION" "$KUBECTL_LDFLAGS"
install_tool kwok    sigs.k8s.io/kwok/cmd/kwok    "$KWOK_VERSION"
install_tool kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$KWOK_VERSION"

log "kube: etcd $ETCD_VERSION, kubernetes $KUBE_VERSION, kwok $KWOK_VERSION in .tools/bin ($((SECONDS - total_started))s)"
