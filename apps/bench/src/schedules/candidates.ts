/**
 * The candidate schedules of the WebGPU schedule sweep, as data: every combination of the schedule fields a caller
 * may pin (flash-int8's `ScheduleOverrides`: rows per thread, workgroup size, P·V channel tile, heavy tiles first),
 * plus the rule's own choice. Pure functions; the sweep (sweep.ts) times them.
 */

/** The schedule fields a candidate pins (the shape of flash-int8's `ScheduleOverrides`). */
export interface ScheduleOverridesLike {
  rowsPerThread?: number;
  workgroupSize?: number;
  pvChannelTile?: number;
  heavyTilesFirst?: boolean;
}

/** One candidate: a label for the table and the fields it pins; `overrides` undefined means the rule's choice. */
export interface ScheduleCandidate {
  label: string;
  overrides?: Required<ScheduleOverridesLike>;
}

/** The values each pinned field takes: everything `ScheduleOverrides` accepts. */
export const SCHEDULE_SPACE = {
  rowsPerThread: [1, 2, 4],
  workgroupSize: [64, 128, 256, 512],
  pvChannelTile: [1, 2, 4, 8, 16],
  heavyTilesFirst: [false, true],
} as const;

export type ScheduleSpace = { [K in keyof typeof SCHEDULE_SPACE]: ReadonlyArray<(typeof SCHEDULE_SPACE)[K][number]> };

/** The rule's choice (no field pinned): always timed first, the reference of the speedups. */
export const RULE_CANDIDATE: ScheduleCandidate = { label: 'rule' };

/** `R2 wg256 pc4`, with ` heavy-first` when the causal tile order is reversed (the README tables' notation). */
export function candidateLabel(o: Required<ScheduleOverridesLike>): string {
  return `R${o.rowsPerThread} wg${o.workgroupSize} pc${o.pvChannelTile}${o.heavyTilesFirst ? ' heavy-first' : ''}`;
}

/** The rule, then every combination of `space` (rows per thread varying slowest). */
export function scheduleCandidates(space: ScheduleSpace = SCHEDULE_SPACE): ScheduleCandidate[] {
  const out: ScheduleCandidate[] = [RULE_CANDIDATE];
  for (const rowsPerThread of space.rowsPerThread) {
    for (const workgroupSize of space.workgroupSize) {
      for (const pvChannelTile of space.pvChannelTile) {
        for (const heavyTilesFirst of space.heavyTilesFirst) {
          const overrides = { rowsPerThread, workgroupSize, pvChannelTile, heavyTilesFirst };
          out.push({ label: candidateLabel(overrides), overrides });
        }
      }
    }
  }
  return out;
}

/**
 * Keeps the rule and the candidates whose label starts with one of `prefixes` (`--candidates 'R2 wg512,R4 wg128 pc4'`);
 * every candidate without prefixes.
 */
export function filterCandidates(candidates: ScheduleCandidate[], prefixes: readonly string[] | undefined): ScheduleCandidate[] {
  if (!prefixes || prefixes.length === 0) return candidates;
  return candidates.filter((c) => c === RULE_CANDIDATE || !c.overrides || prefixes.some((p) => c.label.startsWith(p.trim())));
}

/**
 * The candidates worth timing at one shape. Heavy-tiles-first only reorders causal work, so it is dropped for
 * non-causal shapes. `keyOf` gives the schedule a candidate resolves to on this device (fields the device cannot
 * hold are lowered by the schedule function, so distinct pins can land on one schedule): the first candidate of each
 * key is kept and the others are reported as its duplicates. `keyOf` may throw (no schedule fits): the candidate is
 * kept with the error, so the table says why.
 */
export function candidatesForShape(
  candidates: ScheduleCandidate[],
  causal: boolean,
  keyOf?: (candidate: ScheduleCandidate) => string,
): Array<{ candidate: ScheduleCandidate; key?: string; duplicates: string[]; keyError?: unknown }> {
  const kept: Array<{ candidate: ScheduleCandidate; key?: string; duplicates: string[]; keyError?: unknown }> = [];
  const byKey = new Map<string, { duplicates: string[] }>();
  for (const candidate of candidates) {
    if (!causal && candidate.overrides?.heavyTilesFirst) continue;
    if (!keyOf) {
      kept.push({ candidate, duplicates: [] });
      continue;
    }
    let key: string;
    try {
      key = keyOf(candidate);
    } catch (keyError) {
      kept.push({ candidate, duplicates: [], keyError });
      continue;
    }
    const first = byKey.get(key);
    if (first) {
      first.duplicates.push(candidate.label);
      continue;
    }
    const entry = { candidate, key, duplicates: [] as string[] };
    byKey.set(key, entry);
    kept.push(entry);
  }
  return kept;
}
