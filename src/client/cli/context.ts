import { Client, Connection } from '@temporalio/client';
import { loadFleetConfig } from '../../shared/config/load';
import type { FleetConfig } from '../../shared/config/schema';
import { defaultActor } from './actor';
import type { GlobalOptions } from './command';
import { CannotConnectError, CliInputError } from './exit-codes';
import { colourWanted, Output, type OutputStream } from './output';
import { cliTemporalSettings } from './temporal-settings';
import { UiLinks } from './ui-links';

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  /** Ctrl-C while following a release: stop following, never the release. */
  onInterrupt?: (handler: () => void) => () => void;
}

/**
 * What a command needs, created lazily: the fleet config is read and Temporal is connected
 * only by commands that need them, after their arguments were validated, so a refused
 * request never connects, let alone starts anything.
 */
export class CliContext {
  readonly out: Output;
  readonly err: Output;
  readonly json: boolean;
  readonly env: Record<string, string | undefined>;
  private clientPromise?: Promise<Client>;
  private configPromise?: Promise<FleetConfig>;
  private links?: UiLinks;

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {
    this.env = io.env;
    this.json = globals.json;
    this.out = new Output(io.stdout, !globals.json && colourWanted(io.stdout, io.env, globals.noColor));
    this.err = new Output(io.stderr, colourWanted(io.stderr, io.env, globals.noColor));
  }

  /** Human-facing notes: on stderr in --json mode, so stdout stays one JSON document. */
  get note(): Output {
    return this.json ? this.err : this.out;
  }

  get actor(): string {
    return this.globals.by?.trim() || defaultActor(this.env);
  }

  configPath(): string {
    const path = this.globals.config ?? this.env.TENANT_FLEET_CONFIG;
    if (!path) throw new CliInputError(['--config: expected the fleet config file, from --config or TENANT_FLEET_CONFIG (got nothing)']);
    return path;
  }

  config(): Promise<FleetConfig> {
    this.configPromise ??= (async () => {
      const path = this.configPath();
      try {
        return await loadFleetConfig(path);
      } catch (error) {
        // An unreadable file is the caller's input too: refused, with the path named.
        if (/cannot read fleet config/.test((error as Error).message)) throw new CliInputError([`--config: ${(error as Error).message} (got ${JSON.stringify(path)})`]);
        throw error;
      }
    })();
    return this.configPromise;
  }

  client(): Promise<Client> {
    this.clientPromise ??= (async () => {
      const settings = cliTemporalSettings(this.env);
      this.links = UiLinks.fromEnv(this.env, settings.namespace);
      if (this.links.problem) this.err.line(this.err.paint('yellow', `warning: ${this.links.problem}`));
      let connection: Connection;
      try {
        connection = await Connection.connect(settings.connection);
      } catch (error) {
        throw new CannotConnectError(settings.connection.address ?? '127.0.0.1:7233', error);
      }
      return new Client({ connection, namespace: settings.namespace, dataConverter: settings.dataConverter });
    })();
    return this.clientPromise;
  }

  /** UI links; available after client() (they need the namespace). */
  get ui(): UiLinks {
    this.links ??= UiLinks.fromEnv(this.env, this.env.TEMPORAL_NAMESPACE ?? 'default');
    return this.links;
  }

  async close(): Promise<void> {
    const client = await this.clientPromise?.catch(() => undefined);
    await client?.connection.close();
  }
}
