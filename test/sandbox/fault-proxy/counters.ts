import type { Fault, RequestFacts, Target } from './rules';

export type Outcome = 'forwarded' | Fault;

/** One row per target, service and action: what the proxy saw and what it did to it. */
export interface CounterRow {
  target: Target;
  service: string;
  action: string;
  requests: number;
  forwarded: number;
  throttle: number;
  '5xx': number;
  latency: number;
  drop: number;
}

export interface CounterTotals {
  requests: number;
  forwarded: number;
  throttle: number;
  '5xx': number;
  latency: number;
  drop: number;
}

/** Counts of requests and injected faults; tests read them to prove a fault really happened (or nothing was called). */
export class FaultCounters {
  private readonly rows = new Map<string, CounterRow>();

  record(facts: RequestFacts, outcome: Outcome | 'seen'): void {
    const key = `${facts.target}|${facts.service}|${facts.action}`;
    let row = this.rows.get(key);
    if (!row) {
      row = { target: facts.target, service: facts.service, action: facts.action, requests: 0, forwarded: 0, throttle: 0, '5xx': 0, latency: 0, drop: 0 };
      this.rows.set(key, row);
    }
    if (outcome === 'seen') row.requests += 1;
    else row[outcome] += 1;
  }

  snapshot(): CounterRow[] {
    return [...this.rows.values()].map((r) => ({ ...r }));
  }

  reset(): void {
    this.rows.clear();
  }
}

export function totals(rows: readonly CounterRow[], target?: Target): CounterTotals {
  const sum: CounterTotals = { requests: 0, forwarded: 0, throttle: 0, '5xx': 0, latency: 0, drop: 0 };
  for (const r of rows) {
    if (target !== undefined && r.target !== target) continue;
    sum.requests += r.requests;
    sum.forwarded += r.forwarded;
    sum.throttle += r.throttle;
    sum['5xx'] += r['5xx'];
    sum.latency += r.latency;
    sum.drop += r.drop;
  }
  return sum;
}
