import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { releaseManifestSchema, type ReleaseManifest } from '../shared/release/manifest';
import { InputValidationError, parseOrThrow } from '../shared/validation';

const S3_URL = /^s3:\/\/([^/]+)\/(.+)$/;

/**
 * A release manifest (docs/releases.md, "Release manifests") from a file, or from `s3://bucket/key`
 * as an artifact store publishes it, read with the default credential chain (`AWS_ENDPOINT_URL`
 * for the sandbox's S3). YAML or JSON; every problem named with the source, field and value.
 */
export async function loadReleaseManifest(source: string, env: Record<string, string | undefined> = process.env): Promise<ReleaseManifest> {
  const text = await readSource(source, env);
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new InputValidationError(`manifest ${source}`, [`manifest ${source}: expected YAML or JSON (got ${(error as Error).message.split('\n')[0]})`]);
  }
  try {
    return parseOrThrow(releaseManifestSchema, data, `manifest ${source}`);
  } catch (error) {
    // Each problem names the source: the CLI prints the problems without their subject.
    if (error instanceof InputValidationError) throw new InputValidationError(error.subject, error.problems.map((p) => `manifest ${source}: ${p}`));
    throw error;
  }
}

async function readSource(source: string, env: Record<string, string | undefined>): Promise<string> {
  const s3 = S3_URL.exec(source);
  if (!s3) {
    try {
      return await readFile(source, 'utf8');
    } catch (error) {
      throw new InputValidationError('release request', [`manifest: cannot read the file; expected a readable path or s3://bucket/key (got ${JSON.stringify(source)}: ${(error as Error).message})`]);
    }
  }
  const endpoint = env.AWS_ENDPOINT_URL || undefined;
  const client = new S3Client({ region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1', ...(endpoint ? { endpoint, forcePathStyle: true } : {}), maxAttempts: 2 });
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: s3[1], Key: s3[2] }));
    return (await object.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    throw new InputValidationError('release request', [`manifest: cannot read the object; expected a readable s3://bucket/key (got ${JSON.stringify(source)}: ${(error as Error).name}: ${(error as Error).message})`]);
  } finally {
    client.destroy();
  }
}
