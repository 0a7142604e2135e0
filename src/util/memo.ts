/**
 * A pure string function remembered per input, within `limit` entries: when full, the oldest
 * entry goes, so a flood of distinct inputs only costs the computation again.
 */
export interface Memo {
  (input: string): string;
  /** Entries remembered now (tests check the bound). */
  readonly size: number;
}

export function boundedMemo(limit: number, compute: (input: string) => string, remember: (input: string) => boolean = () => true): Memo {
  const entries = new Map<string, string>();
  const memo = (input: string): string => {
    const hit = entries.get(input);
    if (hit !== undefined) return hit;
    const result = compute(input);
    if (remember(input)) {
      if (entries.size >= limit) entries.delete(entries.keys().next().value!);
      entries.set(input, result);
    }
    return result;
  };
  return Object.defineProperty(memo, 'size', { get: () => entries.size }) as Memo;
}
