#!/bin/sh
# One-shot (temporalio/admin-tools): the namespace and the search attributes the workflows set
# (TenantId, ReleaseId, Environment, Phase; see src/shared/search-attributes.ts).
set -eu
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do sleep 2; done
temporal operator namespace describe -n "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create -n "$TEMPORAL_NAMESPACE" --retention 7d --address "$TEMPORAL_ADDRESS"
for name in TenantId ReleaseId Environment Phase; do
  temporal operator search-attribute create --name "$name" --type Keyword -n "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" 2>/dev/null || true
done
temporal operator search-attribute list -n "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS"
