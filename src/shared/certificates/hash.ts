/**
 * A deterministic 128-bit hash (four FNV-1a lanes) in plain JavaScript, because workflow code
 * may not use Node's crypto. It names planned certificates and derives ACM idempotency tokens;
 * it is not a security boundary (a collision could at worst reuse a token within ACM's hour).
 */
export function hash128(text: string): string {
  const seeds = [0x811c9dc5, 0x01000193, 0x5bd1e995, 0x27d4eb2f];
  return seeds
    .map((seed, lane) => {
      let h = (seed ^ lane) >>> 0;
      for (let i = 0; i < text.length; i++) {
        h ^= text.charCodeAt(i);
        h = Math.imul(h, 0x01000193 + lane * 2) >>> 0;
        h ^= h >>> 15;
      }
      h = Math.imul(h ^ (h >>> 13), 0x85ebca6b) >>> 0;
      return (h ^ (h >>> 16)) >>> 0;
    })
    .map((h) => h.toString(16).padStart(8, '0'))
    .join('');
}
