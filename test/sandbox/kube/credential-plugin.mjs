#!/usr/bin/env node
// A local exec credential plugin, the kind a kubeconfig's `users[].user.exec` names (like
// `aws eks get-token`): prints an ExecCredential with the token in PLUGIN_TOKEN, valid for
// PLUGIN_TTL_SECONDS (default 600), and appends a line to PLUGIN_CALLS (if set) each time it
// runs, so a test can tell how often the client ran it. Node built-ins only.
import { appendFileSync } from 'node:fs';

const token = process.env.PLUGIN_TOKEN;
if (!token) {
  process.stderr.write('credential-plugin: PLUGIN_TOKEN is not set; expected the bearer token to hand out\n');
  process.exit(1);
}
if (process.env.PLUGIN_CALLS) appendFileSync(process.env.PLUGIN_CALLS, `${new Date().toISOString()}\n`);
const ttlSeconds = Number(process.env.PLUGIN_TTL_SECONDS ?? 600);
process.stdout.write(
  JSON.stringify({
    apiVersion: 'client.authentication.k8s.io/v1beta1',
    kind: 'ExecCredential',
    status: { token, expirationTimestamp: new Date(Date.now() + ttlSeconds * 1000).toISOString() },
  }),
);
