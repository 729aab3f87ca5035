#!/usr/bin/env bash
# Runs each integration test file against a sandbox of its own (.sandbox/test-<file>): the
# files provision, release, deprovision and fault the same twelve sandbox tenants, so sharing
# one sandbox would make each file's outcome depend on which files ran before it.
# Usage: scripts/test-integration.sh [test/integration/<file>.test.ts ...]  (default: all)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

# These files use no Kubernetes tenant (or start a sandbox of their own): skip the cluster.
NO_KUBE=" certificates load-balancer restore codec-server metrics worker-process history-secrets chaos tenantctl interrupt temporal-cluster "
# These files run on the production-shaped Temporal (PostgreSQL, several shards; docs/testing.md).
ON_CLUSTER=" temporal-cluster "
# These files run ECS tasks behind a load balancer as tenant app processes (docs/sandbox.md "ECS tasks").
ECS_TASKS=" provisioning "

if [ "$#" -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(printf '%s\n' test/integration/*.test.ts | LC_ALL=C sort)
  # The whole suite: `npm run least-privilege` then reads the AWS calls of exactly this run
  # (each sandbox's emulator logs to aws/calls.jsonl), not those of a file run earlier alone.
  find .sandbox -path '.sandbox/test-*' -name calls.jsonl -path '*/aws/*' -delete 2>/dev/null
fi
passed=0
failed=()
for file in "${files[@]}"; do
  name="$(basename "$file" .test.ts)"
  kube=1
  [[ "$NO_KUBE" == *" $name "* ]] && kube=0
  temporal=dev
  [[ "$ON_CLUSTER" == *" $name "* ]] && temporal=cluster
  ecs_tasks=0
  [[ "$ECS_TASKS" == *" $name "* ]] && ecs_tasks=1
  echo "[integration] $file (sandbox .sandbox/test-$name, Temporal $temporal, Kubernetes $([ "$kube" = 1 ] && echo on || echo off))"
  if TENANT_FLEET_TEST_SANDBOX=".sandbox/test-$name" TENANT_FLEET_TEST_KUBE="$kube" TENANT_FLEET_TEST_TEMPORAL="$temporal" TENANT_FLEET_TEST_ECS_TASKS="$ecs_tasks" \
      npx jest --selectProjects integration --runTestsByPath "$file"; then
    passed=$((passed + 1))
  else
    failed+=("$file")
  fi
done
for file in "${failed[@]}"; do echo "[integration] FAILED: $file"; done
echo "integration: ${passed} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
