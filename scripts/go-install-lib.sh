# Sourced by the setup scripts that build one pinned Go command into git-ignored .tools/bin
# (setup-helm.sh, setup-promtool.sh, actionlint in setup-lint.sh): the stamp check that makes a warm run do nothing, the lock
# that keeps two setups from building into the same files, and the build itself.
# shellcheck shell=bash

GO_INSTALL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO_INSTALL_BIN="$GO_INSTALL_ROOT/.tools/bin"

log() { printf '[setup] %s\n' "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# go_install_pinned NAME LINE MODULE_PATH@VERSION LDFLAGS [GO_FLAGS...]
# Builds .tools/bin/NAME unless it exists and .tools/bin/.NAME-stamp holds LINE (the pin).
go_install_pinned() {
  local name="$1" line="$2" pkg="$3" ldflags="$4"
  shift 4
  local stamp="$GO_INSTALL_BIN/.$name-stamp" buildlog="$GO_INSTALL_ROOT/.tools/$name-build.log" started tmpbin
  mkdir -p "$GO_INSTALL_BIN"
  if [ -x "$GO_INSTALL_BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$line" ]; then
    log "$line: up to date"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "$name: no Go toolchain on PATH; install Go 1.26+ (https://go.dev/dl/)"

  # Two setups at once (npm test and npm run sandbox, say) must not build into the same files;
  # the one that waited finds the other's build done.
  if command -v flock >/dev/null 2>&1; then
    local lock_fd
    # A descriptor of its own: the calling script may hold its own lock on 9.
    exec {lock_fd}>"$GO_INSTALL_BIN/.$name-setup.lock"
    flock "$lock_fd"
    if [ -x "$GO_INSTALL_BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$line" ]; then return 0; fi
  fi

  log "building $line from Go modules …"
  started=$SECONDS
  tmpbin="$(mktemp -d "$GO_INSTALL_BIN/.$name-gobin.XXXXXX")"
  # -v names each package as it compiles: a heartbeat every 100 shows a long cold build moving.
  if ! CGO_ENABLED=0 GOWORK=off GOBIN="$tmpbin" go install -v -p 2 -trimpath "$@" -ldflags "$ldflags" "$pkg" 2>&1 |
    tee "$buildlog" |
    awk -v name="$name" '/^go: / { next } { n++; if (n % 100 == 0) { printf "[setup] %s: compiled %d packages\n", name, n; fflush() } }' ||
    [ ! -x "$tmpbin/$name" ]; then
    rm -rf "$tmpbin"
    die "$name: go install $pkg failed; its output is in .tools/$name-build.log"
  fi
  mv -f "$tmpbin/$name" "$GO_INSTALL_BIN/$name"
  rm -rf "$tmpbin" "$buildlog"
  echo "$line" > "$stamp"
  log "built $line in $((SECONDS - started))s"
}
