import { readFileSync } from 'node:fs';

/**
 * The local addresses of the LISTEN sockets (state 0A) on `port`, from /proc/net/tcp and tcp6 (Linux):
 * '127.0.0.1', '0.0.0.0', '::' and so on. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is given as a.b.c.d.
 */
export function listeningAddresses(port: number): string[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[3] === '0A' && Number.parseInt(cols[1]!.split(':')[1]!, 16) === port)
      .map((cols) => decodeAddress(cols[1]!.split(':')[0]!)),
  );
}

/** /proc/net prints an address as 32-bit words in host byte order (little-endian on the machines this runs on). */
function decodeAddress(hex: string): string {
  const bytes = (hex.match(/.{8}/g) ?? []).flatMap((word) => [...Buffer.from(word, 'hex').reverse()]);
  const v4 = (b: number[]) => b.join('.');
  if (bytes.length === 4) return v4(bytes);
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return v4(bytes.slice(12));
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // Enough for the cases a test asserts on: '::' for the wildcard, the full form otherwise.
  return groups.every((g) => g === '0') ? '::' : groups.join(':');
}
