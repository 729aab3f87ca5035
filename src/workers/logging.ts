import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';

const LEVELS: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/**
 * Workflow IDs carry the tenant and release (README.md, "Contracts": `tenant/<id>/…`,
 * `release/<releaseId>`, `release/<releaseId>/tenant/<id>`), and the SDK attaches the
 * workflow ID to every workflow and activity log line, so every line can be found by tenant
 * or release without each call site remembering to add them.
 */
export function idsFromWorkflowId(workflowId: unknown): { tenantId?: string; releaseId?: string } {
  if (typeof workflowId !== 'string') return {};
  const release = /^release\/([^/]+)(?:\/tenant\/([^/]+))?/.exec(workflowId);
  if (release) return { releaseId: release[1], ...(release[2] ? { tenantId: release[2] } : {}) };
  const tenant = /^tenant\/([^/]+)\//.exec(workflowId);
  if (tenant) return { tenantId: tenant[1] };
  return {};
}

/** Meta keys whose values are never written: a stray credential in a log line lives in the log store for years. */
const SECRET_KEY = /pass(word|wd)?|secret|token|api[-_]?key|authorization|credential|private[-_]?key|session/i;

/** One JSON object per line on stdout (stderr for WARN and ERROR), as log shippers expect. */
export class JsonLogger implements Logger {
  private readonly threshold: number;

  constructor(
    level: LogLevel = 'INFO',
    private readonly write: (level: LogLevel, line: string) => void = defaultWrite,
    private readonly base: Record<string, unknown> = {},
  ) {
    this.threshold = LEVELS[level];
  }

  log(level: LogLevel, message: string, meta: LogMetadata = {}): void {
    if (LEVELS[level] < this.threshold) return;
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      level: level.toLowerCase(),
      msg: message,
      ...this.base,
      ...idsFromWorkflowId((meta as Record<string, unknown>).workflowId),
    };
    for (const [key, value] of Object.entries(meta)) {
      entry[key] = SECRET_KEY.test(key) ? '[redacted]' : serializable(value);
    }
    this.write(level, safeStringify(entry));
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

function defaultWrite(level: LogLevel, line: string): void {
  (LEVELS[level] >= LEVELS.WARN ? process.stderr : process.stdout).write(`${line}\n`);
}

function serializable(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return value;
}

function safeStringify(entry: Record<string, unknown>): string {
  try {
    return JSON.stringify(entry);
  } catch {
    // A circular structure in meta must not lose the message itself.
    return JSON.stringify({ time: entry.time, level: entry.level, msg: entry.msg, note: 'metadata was not serializable' });
  }
}
