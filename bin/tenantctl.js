#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS launcher: it must run before anything is compiled */
// Launcher for `npx tenantctl`. In a checkout (src/ present and tsx installed) it runs the
// TypeScript source through tsx's require hook, so no build is needed and it is never stale;
// an installed build without dev dependencies runs dist/ (`npm run build`).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const source = join(root, 'src', 'client', 'cli', 'main.ts');
const built = join(root, 'dist', 'client', 'cli', 'main.js');

function load() {
  if (existsSync(source) && process.env.TENANTCTL_USE_DIST !== '1') {
    let tsx;
    try {
      tsx = require('tsx/cjs/api');
    } catch {
      tsx = undefined; // no dev dependencies: fall back to the build
    }
    if (tsx) {
      tsx.register();
      return require(source);
    }
  }
  if (existsSync(built)) return require(built);
  process.stderr.write(`tenantctl: neither ${source} with tsx (npm install) nor ${built} (npm run build) is available\n`);
  process.exit(1);
}

const { runCli } = load();

// Ctrl-C while following a release stops following, never the release; a second Ctrl-C exits at once.
function onInterrupt(handler) {
  let seen = false;
  const listener = () => {
    if (seen) process.exit(130);
    seen = true;
    handler();
  };
  process.on('SIGINT', listener);
  return () => process.off('SIGINT', listener);
}

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, onInterrupt }).then(
  (code) => {
    process.exitCode = code;
    // gRPC channels can outlive the command by a moment; do not let them hold the exit code hostage.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error) => {
    process.stderr.write(`tenantctl: unexpected error: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
