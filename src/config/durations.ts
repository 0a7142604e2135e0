/**
 * Parsing of human-friendly durations and sizes used by the configuration.
 * "15m", "7d", "3600" (seconds), "1.5h"; sizes in GB/MB accept decimals.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses "90", "90s", "15m", "1.5h", "7d" into whole seconds; returns null when malformed. */
export function parseDurationSeconds(raw: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(raw);
  if (!match) return null;
  const value = Number(match[1]);
  const unit = (match[2] || 's').toLowerCase();
  const seconds = Math.round(value * (UNIT_SECONDS[unit] ?? 1));
  return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
