import { z } from 'zod';

const uiUrlSchema = z.url({ protocol: /^https?$/ });

/**
 * Links to the Temporal Web UI, from TEMPORAL_UI_URL (the sandbox writes it; for Temporal
 * Cloud use https://cloud.temporal.io). Without it, commands print no links.
 */
export class UiLinks {
  private constructor(
    private readonly base: string | undefined,
    private readonly namespace: string,
    /** Why TEMPORAL_UI_URL was ignored, for a warning. */
    readonly problem?: string,
  ) {}

  static fromEnv(env: Record<string, string | undefined>, namespace: string): UiLinks {
    const raw = env.TEMPORAL_UI_URL;
    if (raw === undefined || raw === '') return new UiLinks(undefined, namespace);
    const parsed = uiUrlSchema.safeParse(raw);
    // A malformed UI URL must not stop a release: links are a convenience, so it is reported and skipped.
    if (!parsed.success) return new UiLinks(undefined, namespace, `TEMPORAL_UI_URL: expected an http(s) URL such as http://127.0.0.1:8233; no UI links printed (got ${JSON.stringify(raw)})`);
    return new UiLinks(raw.replace(/\/+$/, ''), namespace);
  }

  get enabled(): boolean {
    return this.base !== undefined;
  }

  workflow(workflowId: string, runId?: string): string | undefined {
    if (!this.base) return undefined;
    const path = `${this.base}/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
    return runId ? `${path}/${encodeURIComponent(runId)}/history` : path;
  }

  /** The UI's workflow list filtered by a visibility query, e.g. every workflow of one tenant. */
  search(query: string): string | undefined {
    if (!this.base) return undefined;
    return `${this.base}/namespaces/${encodeURIComponent(this.namespace)}/workflows?query=${encodeURIComponent(query)}`;
  }
}
