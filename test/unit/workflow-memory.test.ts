import { getHeapStatistics } from 'node:v8';
import { Worker as Thread } from 'node:worker_threads';
import {
  CACHED_WORKFLOW_MIB,
  capWorkflowThreadHeap,
  GC_HEADROOM,
  MIN_WORKER_MEMORY_MIB,
  PROCESS_BASE_MIB,
  sizeWorkflowMemory,
  WORKFLOW_CONTEXT_MIB,
} from '../../src/workers/workflow-memory';

/** The memory rule of the workflows worker (docs/operators.md, "Worker memory"). */
describe('sizeWorkflowMemory', () => {
  it.each([768, 1_024, 2_048, 8_192])('keeps the process within %d MiB when every cached workflow is live', (memoryMiB) => {
    const { workflowHeapMiB, maxCachedWorkflows } = sizeWorkflowMemory(memoryMiB);
    expect(PROCESS_BASE_MIB + workflowHeapMiB).toBeLessThanOrEqual(memoryMiB);
    // The live set (the context and a full cache) leaves the headroom for garbage free.
    expect(WORKFLOW_CONTEXT_MIB + maxCachedWorkflows * CACHED_WORKFLOW_MIB).toBeLessThanOrEqual(workflowHeapMiB * (1 - GC_HEADROOM) + CACHED_WORKFLOW_MIB);
  });

  it('gives the default 1,024 MiB worker its measured cache', () => {
    expect(sizeWorkflowMemory(1_024)).toEqual({ workflowHeapMiB: 1_024 - PROCESS_BASE_MIB, maxCachedWorkflows: Math.floor((1_024 - PROCESS_BASE_MIB) * (1 - GC_HEADROOM) - WORKFLOW_CONTEXT_MIB) });
  });

  it('grows the cache with the memory, one workflow per CACHED_WORKFLOW_MIB of live heap', () => {
    const small = sizeWorkflowMemory(1_024).maxCachedWorkflows;
    const large = sizeWorkflowMemory(2_048).maxCachedWorkflows;
    expect(large - small).toBe(Math.floor((1_024 * (1 - GC_HEADROOM)) / CACHED_WORKFLOW_MIB));
  });

  it('never sizes a cache the SDK would refuse (below 2) at the smallest memory accepted', () => {
    expect(sizeWorkflowMemory(MIN_WORKER_MEMORY_MIB).maxCachedWorkflows).toBeGreaterThanOrEqual(2);
  });
});

describe('capWorkflowThreadHeap', () => {
  it('caps the heap of a thread started after it, not the running one', async () => {
    const before = getHeapStatistics().heap_size_limit;
    capWorkflowThreadHeap(300);
    const threadLimitMiB = await new Promise<number>((resolve, reject) => {
      const thread = new Thread("require('node:worker_threads').parentPort.postMessage(require('node:v8').getHeapStatistics().heap_size_limit / 2 ** 20)", { eval: true });
      thread.once('message', (limit: number) => void thread.terminate().then(() => resolve(limit)));
      thread.once('error', reject);
    });
    // The old space as set, plus the young generation V8 adds on top.
    expect(threadLimitMiB).toBeGreaterThanOrEqual(300);
    expect(threadLimitMiB).toBeLessThan(400);
    expect(getHeapStatistics().heap_size_limit).toBe(before);
  });
});
