import type { BenchWorker } from './worker-process';

/** Samples a worker's resident memory while a scenario runs; the peak is also the kernel's VmHWM. */
export function sampleMemory(worker: BenchWorker, intervalMs = 250) {
  let peak = 0;
  const read = () => {
    try {
      const { rssMiB, peakRssMiB } = worker.memory();
      peak = Math.max(peak, rssMiB, Number.isNaN(peakRssMiB) ? 0 : peakRssMiB);
    } catch {
      // the worker has exited (a crash scenario): keep the peak seen so far
    }
  };
  const timer = setInterval(read, intervalMs);
  return {
    stop() {
      read();
      clearInterval(timer);
    },
    peakMiB: () => peak,
  };
}
