import cliProgress from 'cli-progress';

/** A progress bar with ETA on a TTY; a no-op elsewhere (logs, CI, pipes) or with --no-progress. */
export interface ProgressBar {
  update(done: number, total: number, label: string): void;
  stop(): void;
}

const SILENT: ProgressBar = { update() {}, stop() {} };

/**
 * `done` and `total` are in arbitrary work units (the sweep weights cells by their expected time), so the ETA that
 * cli-progress extrapolates from the rate tracks the remaining work rather than the remaining cell count.
 */
export function createProgressBar(enabled: boolean, title: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!enabled || !stream.isTTY) return SILENT;
  const scale = 1000; // cli-progress wants integers; units are seconds of expected work → milliseconds
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${title} {bar} {percentage}% | ETA {eta_formatted} | {label}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, label) {
      const value = Math.round(done * scale);
      const max = Math.max(1, Math.round(total * scale));
      if (!started) {
        bar.start(max, value, { label });
        started = true;
      } else {
        bar.setTotal(max);
        bar.update(value, { label });
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
