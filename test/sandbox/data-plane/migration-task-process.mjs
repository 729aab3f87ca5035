// The sandbox's migration: what a one-off task of the tenant app's image runs for a release's
// migration step (docs/sandbox.md, "Migrations"). Plain node, no dependencies. It prints a few
// lines like a migration tool; an image tag ending in `-migration-fails` makes it fail (exit 1)
// after them. On success it writes its summary to TERMINATION_MESSAGE_PATH when set, as a
// container's /dev/termination-log.
import { writeFileSync } from 'node:fs';

const { tenantId, version, command } = JSON.parse(process.argv[2] ?? '{}');
const fails = /-migration-fails$/.test(version ?? '');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const say = async (line, stream = process.stdout) => {
  stream.write(`${line}\n`);
  await sleep(50);
};
await say(`$ ${(command ?? []).join(' ')}`);
await say(`migrating the database of tenant ${tenantId} to ${version}`);
await say('applying 0001_create_accounts ... ok');
if (fails) {
  await say('applying 0002_add_orders ... FAILED');
  await say('error: relation "orders" already exists (sandbox: the image tag ends in -migration-fails)', process.stderr);
  process.exitCode = 1;
} else {
  await say('applying 0002_add_orders ... ok');
  await say(`done: 2 migrations applied, schema at ${version}`);
  if (process.env.TERMINATION_MESSAGE_PATH) writeFileSync(process.env.TERMINATION_MESSAGE_PATH, `done: 2 migrations applied, schema at ${version}\n`);
}
