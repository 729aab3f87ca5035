import { createServer } from 'node:net';

/** Asks the kernel for a free port on 127.0.0.1 (the sandbox never binds anything else). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Distinct free ports; asking one at a time could return the same port twice. */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeLoopbackPort());
  return [...ports];
}

/**
 * A picked port is free when picked, not when the server binds it: on a busy machine another
 * process can take it in between. `start` picks its ports anew on each call; a start that
 * failed because its address was taken is tried again, any other failure is not.
 */
export async function retryOnPortClash<T>(what: string, start: () => Promise<T>, log: (line: string) => void = () => undefined, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const cause = (error as Error).cause;
      const text = `${(error as Error).message} ${cause instanceof Error ? cause.message : ''}`;
      if (attempt >= attempts || !/address already in use|EADDRINUSE/i.test(text)) throw error;
      log(`${what}: a picked port was taken before the server bound it; retrying with new ports (attempt ${attempt + 1} of ${attempts})`);
    }
  }
}

/**
 * Distinct free 127.0.0.1 ports below `max`, for servers that cannot store the kernel's
 * ephemeral ports (32768 and up): Temporal keeps its services' ports in a PostgreSQL smallint.
 */
export async function freeLoopbackPortsBelow(count: number, max = 32_767, min = 20_000): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries > 1_000) throw new Error(`no ${count} free 127.0.0.1 ports between ${min} and ${max}`);
    const port = min + Math.floor(Math.random() * (max - min + 1));
    if (!ports.has(port) && (await canBind(port))) ports.add(port);
  }
  return [...ports];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
