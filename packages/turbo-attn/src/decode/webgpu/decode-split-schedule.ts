/** What the split count of a WebGPU decode step depends on. */
export interface DecodeSplitProblem {
  /** Sequences in the step (the cache's batch). */
  batch: number;
  kvHeads: number;
  /** Full pages of the longest sequence. */
  maxPages: number;
  /** Workgroups the device should have in flight to be busy (e.g. 2–4 per compute unit; a few on a CPU adapter). */
  targetWorkgroups: number;
  /** Upper bound on pages per split (the turboDecode option `pagesPerSplit`). */
  maxPagesPerSplit: number;
}

/**
 * Pages per split of a WebGPU decode step (flash-decoding): one workgroup per (split, kv head, sequence), so
 * batch · kvHeads workgroups without splitting. Split the keys only as far as it takes to reach `targetWorkgroups`,
 * since every split adds a partial state to write and merge: pagesPerSplit = ⌈maxPages / ⌈target / (batch · kvHeads)⌉⌉,
 * at least 1 and at most `maxPagesPerSplit`. Pure, so the plan key (shape, splits) follows from it.
 */
export function chooseDecodePagesPerSplit(problem: DecodeSplitProblem): number {
  const { batch, kvHeads, maxPages, targetWorkgroups, maxPagesPerSplit } = problem;
  const groups = batch * kvHeads;
  const wantedSplits = Math.max(1, Math.ceil(targetWorkgroups / groups));
  const pagesPerSplit = Math.ceil(Math.max(1, maxPages) / wantedSplits);
  return Math.max(1, Math.min(maxPagesPerSplit, pagesPerSplit));
}
