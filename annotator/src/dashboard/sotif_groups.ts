// The SOTIF page's grouping (no DOM: tested under Node, tests/sotif_groups.test.ts): the known
// triggering conditions by kind in ISO 21448's order, with how many of each status.

/** The kinds of triggering condition, in the order the page shows them. */
export const CONDITION_KINDS = ["class", "distance", "occlusion", "weather", "sparsity"] as const;

/** The status word of a condition: its SPIs' worst status, or ``not argued`` when none. */
export const NOT_ARGUED = "not argued";

export interface ConditionLike {
  slice: string;
  kind: string;
  status: string | null;
}

export interface KindGroup<T extends ConditionLike> {
  kind: string;
  conditions: T[];
  /** status word -> how many conditions of the kind have it */
  counts: Record<string, number>;
}

/** A status, or ``not argued`` for none (no SPI argues over the slice or node). */
export function statusName(status: string | null): string {
  return status ?? NOT_ARGUED;
}

export function statusWord(c: ConditionLike): string {
  return statusName(c.status);
}

/** ``conditions`` grouped by kind (known kinds first in their order, then any other by name),
 * each group sorted by slice name, with its status counts; empty kinds are left out. */
export function groupByKind<T extends ConditionLike>(conditions: readonly T[]): KindGroup<T>[] {
  const groups = new Map<string, T[]>();
  for (const c of conditions) {
    const list = groups.get(c.kind) ?? [];
    list.push(c);
    groups.set(c.kind, list);
  }
  const rank = (k: string): number => {
    const i = (CONDITION_KINDS as readonly string[]).indexOf(k);
    return i < 0 ? CONDITION_KINDS.length : i;
  };
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([kind, list]) => {
      const sorted = [...list].sort((a, b) => a.slice.localeCompare(b.slice));
      const counts: Record<string, number> = {};
      for (const c of sorted) counts[statusWord(c)] = (counts[statusWord(c)] ?? 0) + 1;
      return { kind, conditions: sorted, counts };
    });
}
