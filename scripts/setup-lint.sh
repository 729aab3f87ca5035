#!/usr/bin/env bash
# Installs the infrastructure linters that `npm run lint:infra` runs (scripts/lint-infra.ts),
# into git-ignored .tools/, each pinned and stamped so a warm run does nothing:
#   checkov     PyPI, its own venv .tools/lint-venv (scripts/lint-requirements.txt)
#   actionlint  built from Go modules into .tools/bin
#   the shellcheck binary, Debian's package (actionlint also uses it for `run:` scripts)
# cfn-lint is not here: it is pinned with moto in test/sandbox/moto/requirements.txt.
# Output stays to one line per step; a failed install points at its log instead of printing it.
set -euo pipefail
# shellcheck source=scripts/go-install-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-install-lib.sh"

ACTIONLINT_VERSION="v1.7.12"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
LINT_REQUIREMENTS="$ROOT/scripts/lint-requirements.txt"

mkdir -p "$TOOLS/bin"

# Two setups at once (npm test and npm run sandbox, say) must not install into the same venv.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.lint-setup.lock"
  flock 9
fi

# --- checkov in its own venv ----------------------------------------------------------------
wanted="$(sha256sum "$LINT_REQUIREMENTS" | cut -d' ' -f1)"
if [ ! -x "$TOOLS/lint-venv/bin/checkov" ] || [ "$(cat "$TOOLS/lint-venv/.requirements-sha256" 2>/dev/null)" != "$wanted" ]; then
  log "checkov: creating the Python venv in .tools/lint-venv"
  rm -rf "$TOOLS/lint-venv"
  if ! { python3 -m venv "$TOOLS/lint-venv" &&
    "$TOOLS/lint-venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$LINT_REQUIREMENTS"; } >"$TOOLS/lint-venv.log" 2>&1; then
    log "checkov: install failed; the pip output is in .tools/lint-venv.log"
    exit 1
  fi
  echo "$wanted" > "$TOOLS/lint-venv/.requirements-sha256"
  log "checkov: installed $("$TOOLS/lint-venv/bin/pip" show checkov 2>/dev/null | sed -n 's/^Version: //p')"
fi

# --- actionlint (checks the CI example) -------------------------------------------------------
go_install_pinned actionlint "actionlint $ACTIONLINT_VERSION" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" "-s -w"

# --- shellcheck (Debian) ----------------------------------------------------------------------
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "shellcheck: installing Debian's shellcheck"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck; } >"$TOOLS/shellcheck-install.log" 2>&1; then
      log "shellcheck: install failed; the apt output is in .tools/shellcheck-install.log"
      exit 1
    fi
  else
    log "shellcheck: not installed (needs root and apt-get); install shellcheck to run npm run lint:infra"
  fi
fi
