// How much memory the workflows worker gives its workflow cache and the workflow thread's heap,
// from one number an operator knows: the memory the process may use (its container limit).
// The constants are measured (docs/benchmarks.md, "Worker memory"); the rule is explained in
// docs/operators.md ("Worker memory").
import { setFlagsFromString } from 'node:v8';

/** What the process uses besides the workflow thread's heap: the main thread's heap (activities, the SDK), the core's native memory, code. */
export const PROCESS_BASE_MIB = 320;
/** The workflow thread's heap with no workflow cached: the bundle evaluated once in the reusable context. */
export const WORKFLOW_CONTEXT_MIB = 50;
/** One cached workflow's live heap in the reusable context (a release child with its lock's share, with headroom). */
export const CACHED_WORKFLOW_MIB = 1;
/** Room for the garbage between collections, as a share of the workflow heap: a heap that is all live set collects all the time. */
export const GC_HEADROOM = 0.5;
/** Below this the worker could not hold a useful cache. */
export const MIN_WORKER_MEMORY_MIB = 768;

export interface WorkflowMemorySizing {
  /** The old-space limit of the workflow thread's V8 heap. */
  workflowHeapMiB: number;
  /** WorkerOptions.maxCachedWorkflows. */
  maxCachedWorkflows: number;
}

/**
 * The rule: the workflow thread's heap gets what the process base leaves of `memoryMiB`; half of
 * that heap is headroom for garbage, the other half holds the reusable context and the cached
 * workflows. A cache smaller than the workflows open at once costs replays (CPU), never correctness.
 */
export function sizeWorkflowMemory(memoryMiB: number): WorkflowMemorySizing {
  const workflowHeapMiB = Math.floor(memoryMiB - PROCESS_BASE_MIB);
  const forCache = workflowHeapMiB * (1 - GC_HEADROOM) - WORKFLOW_CONTEXT_MIB;
  // The SDK needs at least 2 cached workflows (0 disables the cache, which replays every task).
  const maxCachedWorkflows = Math.max(2, Math.floor(forCache / CACHED_WORKFLOW_MIB));
  return { workflowHeapMiB, maxCachedWorkflows };
}

/**
 * Caps the heap of the workflow thread the SDK starts next (a V8 flag applies to isolates created
 * after it is set; the main thread keeps its own limit). Without a cap, V8 sizes that heap from
 * the machine's memory and collects late: at 1,000 tenants in flight the process grew to 2 GB,
 * mostly garbage, with a few hundred workflows cached.
 */
export function capWorkflowThreadHeap(workflowHeapMiB: number): void {
  setFlagsFromString(`--max-old-space-size=${workflowHeapMiB}`);
}

export interface WorkflowMemorySettings {
  /** The memory the process may use (TENANT_FLEET_WORKER_MEMORY_MIB). */
  memoryMiB: number;
  /** Overrides the rule's cache size (TENANT_FLEET_MAX_CACHED_WORKFLOWS). */
  maxCachedWorkflows?: number;
  /** TENANT_FLEET_REUSE_V8_CONTEXT. */
  reuseV8Context: boolean;
}

/**
 * The workflows worker's memory options, the same for the product's worker and the bench's
 * (bench/sim/worker-main.ts); caps the workflow thread's heap as a side effect, so call it right
 * before that worker is created.
 */
export function workflowWorkerMemoryOptions(settings: WorkflowMemorySettings): { maxCachedWorkflows: number; reuseV8Context: boolean } {
  const sizing = sizeWorkflowMemory(settings.memoryMiB);
  capWorkflowThreadHeap(sizing.workflowHeapMiB);
  return { maxCachedWorkflows: settings.maxCachedWorkflows ?? sizing.maxCachedWorkflows, reuseV8Context: settings.reuseV8Context };
}

/** What a worker gets when nothing is configured: the defaults of TENANT_FLEET_WORKER_MEMORY_MIB and TENANT_FLEET_REUSE_V8_CONTEXT. */
export const DEFAULT_WORKFLOW_MEMORY: WorkflowMemorySettings = { memoryMiB: 1_024, reuseV8Context: true };
