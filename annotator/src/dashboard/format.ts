// How the dashboards write numbers, intervals, durations and check results (no DOM: tested
// under Node, tests/dashboard_format.test.ts).

/** ``value`` with ``digits`` decimals and a true minus sign, or an en dash when undefined. */
export function num(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const text = Math.abs(value).toFixed(digits);
  return value < 0 && Number(text) !== 0 ? `−${text}` : text;
}

/** ``+0.052`` style: the sign always shown (a difference). */
export function signed(value: number | null | undefined, digits = 3): string {
  const text = num(value, digits);
  return text === "–" || text.startsWith("−") ? text : `+${text}`;
}

/** A 95 % interval ``[lo, hi]``, or an en dash when either end is undefined. */
export function interval(
  lo: number | null | undefined,
  hi: number | null | undefined,
  digits = 3,
): string {
  if (lo === null || lo === undefined || hi === null || hi === undefined) return "–";
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return "–";
  return `[${num(lo, digits)}, ${num(hi, digits)}]`;
}

/** A duration in seconds as ``42 s``, ``3.5 min`` or ``2.1 h``. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const abs = Math.abs(seconds);
  if (abs < 120) return `${seconds.toFixed(abs < 10 ? 1 : 0)} s`;
  if (abs < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A share as a percentage (``0.0075`` -> ``0.75 %``). */
export function percent(share: number | null | undefined, digits = 2): string {
  return share === null || share === undefined || !Number.isFinite(share)
    ? "–"
    : `${(share * 100).toFixed(digits)} %`;
}

/** What a gate check row compares, in words, by its kind. */
export function checkMeaning(kind: string): string {
  switch (kind) {
    case "no_regression":
      return "candidate − champion";
    case "floor":
      return "candidate ≥ floor";
    case "ceiling":
      return "candidate ≤ ceiling";
    case "label_agreement":
      return "label agreement ≥ minimum";
    case "drift":
      return "suite vs fleet drift";
    case "missing":
      return "a required slice is missing";
    default:
      return kind;
  }
}

export interface CheckLike {
  kind: string;
  slice: string;
  passed: boolean | null;
  gated: boolean;
}

/** A row of the gate's checks, not the verdict itself (kinds ``verdict`` and ``bypass``). */
export function isCheck(c: CheckLike): boolean {
  return c.kind !== "verdict" && c.kind !== "bypass";
}

/** A check that failed the gate (reported-only rows never fail it). */
export function failedCheck(c: CheckLike): boolean {
  return isCheck(c) && c.gated && c.passed === false;
}

/** The gate's check rows grouped by slice ("" = the data checks), failing slices first, then by
 * name; the ``verdict`` and ``bypass`` rows are the verdict itself, not checks. */
export function groupBySlice<T extends CheckLike>(checks: readonly T[]): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const c of checks) {
    if (!isCheck(c)) continue;
    const list = groups.get(c.slice) ?? [];
    list.push(c);
    groups.set(c.slice, list);
  }
  return [...groups.entries()].sort(([a, ca], [b, cb]) => {
    const fa = ca.some(failedCheck) ? 0 : 1;
    const fb = cb.some(failedCheck) ? 0 : 1;
    return fa - fb || a.localeCompare(b);
  });
}
