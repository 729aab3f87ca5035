#!/usr/bin/env bash
# Runs each integration test file against a sandbox of its own (.sandbox/test-<file>): the
# files provision, release, deprovision and fault the same twelve sandbox tenants, so sharing
# one sandbox would make each file's outcome depend on which files ran before it.
# Usage: scripts/test-integration.sh [test/integration/<file>.test.ts ...]  (default: all)
# TENANT_FLEET_TEST_NAME=<regex> runs only the tests whose names match (jest's --testNamePattern;
# the file's beforeAll still runs), e.g. to run one flaky test again and again.
#
# One file: its output streams to the terminal. Several: they run in TENANT_FLEET_TEST_LANES
# lanes at once (default 2; most of a file's time is spent waiting on timers, stack delays and
# rollouts, not on the CPU), longest first, each file's output going to
# .sandbox/test-<file>/output.log; the terminal gets one PASS/FAIL line per file with its time,
# and at the end the full log of every file that failed. Their sandboxes pick free ports, so two
# files never touch each other's servers.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# The lockfile pins the AWS SDK, whose nine-line Node 22 notice (scripts/quiet-aws-sdk.ts) would
# otherwise open every file's output in CI.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

# These files use no Kubernetes tenant: skip the cluster.
NO_KUBE=" certificates load-balancer restore codec-server metrics worker-process tenantctl temporal-cluster "
# These files start what they need themselves (chaos its own sandbox with the fault proxy,
# history-secrets the demo, interrupt `npm run sandbox` and the demo):
# the run's sandbox would go unused.
NO_SANDBOX=" chaos history-secrets interrupt "
# These files run on the production-shaped Temporal (PostgreSQL, several shards; docs/testing.md).
ON_CLUSTER=" temporal-cluster "
# These files run ECS tasks behind a load balancer as tenant app processes (docs/sandbox.md "ECS tasks").
ECS_TASKS=" provisioning release blue-green "
# These files' fleet config names the load balancer's test listener: tenants get blue/green's green slot.
BLUE_GREEN=" blue-green "
# Seconds each file took in the last fresh-clone rehearsal (2 December 2026, third session, two
# lanes on 2 cores; test time plus sandbox start-up; kubernetes counted with its services case,
# which failed there and was fixed after), to start the longest first so the lanes end together;
# a file missing here counts as 60.
DURATIONS="release:499 kubernetes:480 blue-green:278 tenantctl:253 chaos:244 release-crash:229 history-secrets:172
  provisioning:146 certificates:133 restore:91 activity-idempotency:53 interrupt:48 load-balancer:47 temporal-cluster:42
  metrics:39 bad-input:20 sandbox:18 worker-manifests:16 codec-server:16 worker-process:15"

# Runs one file in its own sandbox; its output goes to stdout.
run_file() {
  local file="$1" name kube temporal sandbox_off ecs_tasks blue_green
  name="$(basename "$file" .test.ts)"
  kube=1
  [[ "$NO_KUBE" == *" $name "* ]] && kube=0
  sandbox_off=0
  [[ "$NO_SANDBOX" == *" $name "* ]] && { sandbox_off=1; kube=0; }
  temporal=dev
  [[ "$ON_CLUSTER" == *" $name "* ]] && temporal=cluster
  ecs_tasks=0
  [[ "$ECS_TASKS" == *" $name "* ]] && ecs_tasks=1
  blue_green=0
  [[ "$BLUE_GREEN" == *" $name "* ]] && blue_green=1
  if [ "$sandbox_off" = 1 ]; then
    echo "[integration] $file (starts its own servers; state under .sandbox/test-$name*)"
  else
    echo "[integration] $file (sandbox .sandbox/test-$name, Temporal $temporal, Kubernetes $([ "$kube" = 1 ] && echo on || echo off))"
  fi
  TENANT_FLEET_TEST_SANDBOX=".sandbox/test-$name" TENANT_FLEET_TEST_KUBE="$kube" TENANT_FLEET_TEST_TEMPORAL="$temporal" \
    TENANT_FLEET_TEST_ECS_TASKS="$ecs_tasks" TENANT_FLEET_TEST_BLUE_GREEN="$blue_green" TENANT_FLEET_TEST_NO_SANDBOX="$sandbox_off" npx jest --selectProjects integration --runTestsByPath "$file" \
    ${TENANT_FLEET_TEST_NAME:+--testNamePattern "$TENANT_FLEET_TEST_NAME"}
}

# One lane's unit of work: runs a file with its output to its log, and prints one line.
run_logged() {
  local file="$1" name log started status
  name="$(basename "$file" .test.ts)"
  mkdir -p ".sandbox/test-$name"
  log=".sandbox/test-$name/output.log"
  started=$SECONDS
  if run_file "$file" > "$log" 2>&1; then status=PASS; else status=FAIL; fi
  printf '%s %s\n' "$status" "$((SECONDS - started))" > ".sandbox/test-$name/result"
  printf '[integration] %s %-45s %4d s  (log %s)\n' "$status" "$file" "$((SECONDS - started))" "$log"
  [ "$status" = PASS ]
}

if [ "${1:-}" = "--run-logged" ]; then
  run_logged "$2"
  exit
fi

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(printf '%s\n' test/integration/*.test.ts | LC_ALL=C sort)
  # The whole suite: `npm run least-privilege` then reads the AWS calls of exactly this run
  # (each sandbox's emulator logs to aws/calls.jsonl), not those of a file run earlier alone.
  find .sandbox -path '.sandbox/test-*' -name calls.jsonl -path '*/aws/*' -delete 2>/dev/null
fi

if [ "${#files[@]}" -eq 1 ]; then
  started=$SECONDS
  if run_file "${files[0]}"; then status=PASS; else status=FAIL; fi
  echo "[integration] $status ${files[0]} in $((SECONDS - started)) s"
  [ "$status" = PASS ]
  exit
fi

# The workflow code is the same for every file: bundle it once (each file's workers load it;
# a file run alone bundles while its servers start).
mkdir -p .sandbox
export TENANT_FLEET_TEST_WORKFLOW_BUNDLE="$PWD/.sandbox/test-workflow-bundle.js"
started=$SECONDS
if ! node --import tsx scripts/build-workflow-bundle.ts "$TENANT_FLEET_TEST_WORKFLOW_BUNDLE" > /dev/null; then
  echo "[integration] could not bundle the workflow code" >&2
  exit 1
fi
echo "[integration] workflow code bundled once for all files in $((SECONDS - started)) s"

lanes="${TENANT_FLEET_TEST_LANES:-2}"
duration_of() {
  local name entry
  name="$(basename "$1" .test.ts)"
  for entry in $DURATIONS; do
    [ "${entry%%:*}" = "$name" ] && { echo "${entry##*:}"; return; }
  done
  echo 60
}
mapfile -t ordered < <(for file in "${files[@]}"; do echo "$(duration_of "$file") $file"; done | sort -rn -k1,1 -k2 | cut -d' ' -f2-)
for file in "${ordered[@]}"; do rm -f ".sandbox/test-$(basename "$file" .test.ts)/result"; done
echo "[integration] ${#ordered[@]} files in $lanes lanes, longest first; each file's output goes to .sandbox/test-<file>/output.log"
started=$SECONDS
# xargs hands the next file to whichever lane is free.
printf '%s\n' "${ordered[@]}" | xargs -P "$lanes" -I{} bash "${BASH_SOURCE[0]}" --run-logged {}

passed=0
failed=()
for file in "${ordered[@]}"; do
  result=".sandbox/test-$(basename "$file" .test.ts)/result"
  if [ "$(cut -d' ' -f1 "$result" 2>/dev/null)" = PASS ]; then passed=$((passed + 1)); else failed+=("$file"); fi
done
for file in "${failed[@]}"; do
  log=".sandbox/test-$(basename "$file" .test.ts)/output.log"
  printf '\n[integration] ===== %s failed: its full output (%s) =====\n' "$file" "$log"
  cat "$log" 2>/dev/null || echo "(no log)"
done
# Once more, last, where a reader (or a CI log cut to its end) looks first: each failed test's name
# and the start of its error, so a flaky test's assertion and values survive a long log.
for file in "${failed[@]}"; do
  log=".sandbox/test-$(basename "$file" .test.ts)/output.log"
  printf '\n[integration] %s: each failed test and the start of its error\n' "$file"
  sed 's/\x1b\[[0-9;]*m//g' "$log" 2>/dev/null | awk '/^ *● /{n=40} n>0{print; n--}' | head -n 200
done
for file in "${failed[@]}"; do echo "[integration] FAILED: $file"; done
echo "integration: ${passed} passed, ${#failed[@]} failed in $((SECONDS - started)) s ($lanes lanes)"
[ "${#failed[@]}" -eq 0 ]
