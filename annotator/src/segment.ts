// Point segmentation's pure core: which points a brush stroke, a lasso or a polygon drawn in a
// view covers, and the per-point label words with undoable edits. Everything runs over typed
// arrays in plain loops (no per-point objects): projecting 120k points and testing them
// against a polygon takes a few milliseconds, so the tools stay interactive.
//
// Screen space is a view's CSS pixels, origin at its top left, y down. A label word is the
// SemanticKITTI layout the API uses: `semantic | instance << 16` (uint32, one per point in the
// frame's point order; 0 = unlabelled). Heights above the ground and clusters come from the
// server (GET .../structure, the vehicle's ground estimate and clustering); the points inside
// a box too (POST .../inside): the geometry they need lives once, in Python.

/** Which points the tools may touch, by height above the ground (metres). */
export interface HeightBand {
  name: string;
  min: number;
  max: number;
}

/** Points lower than this above the estimated ground are ground (the vehicle's threshold). */
export const GROUND_BAND_M = 0.25;

export const HEIGHT_BANDS: HeightBand[] = [
  { name: "any height", min: -Infinity, max: Infinity },
  { name: "ground only", min: -Infinity, max: GROUND_BAND_M },
  { name: "above ground", min: GROUND_BAND_M, max: Infinity },
];

/**
 * Project points (x, y, z at stride 4) through a column-major 4x4 view-projection matrix `m`
 * into the CSS pixels of a `width` x `height` view; `out` (2N) gets x, y per point, NaN for
 * points behind the camera or outside its depth range.
 */
export function projectPoints(
  points: Float32Array,
  m: ArrayLike<number>,
  width: number,
  height: number,
  out: Float32Array,
): void {
  const n = points.length >> 2;
  const hw = width / 2;
  const hh = height / 2;
  for (let i = 0; i < n; i++) {
    const x = points[4 * i];
    const y = points[4 * i + 1];
    const z = points[4 * i + 2];
    const w = m[3] * x + m[7] * y + m[11] * z + m[15];
    const cz = (m[2] * x + m[6] * y + m[10] * z + m[14]) / w;
    if (!(w > 0) || cz < -1 || cz > 1) {
      out[2 * i] = NaN;
      out[2 * i + 1] = NaN;
      continue;
    }
    out[2 * i] = ((m[0] * x + m[4] * y + m[8] * z + m[12]) / w + 1) * hw;
    out[2 * i + 1] = (1 - (m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * hh;
  }
}

/**
 * Which points the tools may touch (1) or not (0): shown (`hideLabelled` leaves labelled
 * points out) and inside the height band (points without a height, outside the ground grid,
 * only when the band is unbounded). `heights` may be null while it is not known yet.
 */
export function eligibleMask(
  words: Uint32Array,
  heights: Float32Array | null,
  band: HeightBand,
  hideLabelled: boolean,
  out: Uint8Array,
): void {
  const n = words.length;
  const anyHeight = band.min === -Infinity && band.max === Infinity;
  for (let i = 0; i < n; i++) {
    let ok = !(hideLabelled && (words[i] & 0xffff) !== 0);
    if (ok && !anyHeight) {
      const h = heights ? heights[i] : NaN;
      ok = h >= band.min && h < band.max; // false for NaN
    }
    out[i] = ok ? 1 : 0;
  }
}

/**
 * Set `out[i] = 1` for the eligible points whose screen position lies inside `polygon` (flat
 * x0, y0, x1, y1, ...; even-odd rule, either winding); returns how many were set. Points
 * outside the polygon's bounding box are passed over with four comparisons.
 */
export function selectInPolygon(
  screen: Float32Array,
  polygon: ArrayLike<number>,
  eligible: Uint8Array,
  out: Uint8Array,
): number {
  const k = polygon.length >> 1;
  if (k < 3) return 0;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (let j = 0; j < k; j++) {
    x0 = Math.min(x0, polygon[2 * j]);
    x1 = Math.max(x1, polygon[2 * j]);
    y0 = Math.min(y0, polygon[2 * j + 1]);
    y1 = Math.max(y1, polygon[2 * j + 1]);
  }
  let count = 0;
  const n = eligible.length;
  for (let i = 0; i < n; i++) {
    if (!eligible[i]) continue;
    const px = screen[2 * i];
    const py = screen[2 * i + 1];
    if (!(px >= x0 && px <= x1 && py >= y0 && py <= y1)) continue; // also NaN
    let inside = false;
    for (let j = 0, prev = k - 1; j < k; prev = j++) {
      const ax = polygon[2 * j];
      const ay = polygon[2 * j + 1];
      const bx = polygon[2 * prev];
      const by = polygon[2 * prev + 1];
      if (ay > py !== by > py && px < ((bx - ax) * (py - ay)) / (by - ay) + ax) inside = !inside;
    }
    if (inside) {
      out[i] = 1;
      count++;
    }
  }
  return count;
}

/**
 * Set `out[i] = 1` for the eligible points within `radius` pixels of the segment from (ax, ay)
 * to (bx, by): what a brush covers between two pointer events. Returns how many were set.
 */
export function selectInStroke(
  screen: Float32Array,
  ax: number,
  ay: number,
  bx: number,
  by: number,
  radius: number,
  eligible: Uint8Array,
  out: Uint8Array,
): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const r2 = radius * radius;
  const x0 = Math.min(ax, bx) - radius;
  const x1 = Math.max(ax, bx) + radius;
  const y0 = Math.min(ay, by) - radius;
  const y1 = Math.max(ay, by) + radius;
  let count = 0;
  const n = eligible.length;
  for (let i = 0; i < n; i++) {
    if (!eligible[i]) continue;
    const px = screen[2 * i];
    const py = screen[2 * i + 1];
    if (!(px >= x0 && px <= x1 && py >= y0 && py <= y1)) continue;
    let t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const ex = px - (ax + t * dx);
    const ey = py - (ay + t * dy);
    if (ex * ex + ey * ey <= r2) {
      out[i] = 1;
      count++;
    }
  }
  return count;
}

/** The eligible point nearest to (x, y) on screen within `radius` pixels, or -1. */
export function nearestPoint(
  screen: Float32Array,
  x: number,
  y: number,
  radius: number,
  eligible: Uint8Array,
): number {
  let best = -1;
  let bestD = radius * radius;
  const n = eligible.length;
  for (let i = 0; i < n; i++) {
    if (!eligible[i]) continue;
    const ex = screen[2 * i] - x;
    const ey = screen[2 * i + 1] - y;
    const d = ex * ex + ey * ey;
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

/** Set `out[i] = 1` for the eligible points of cluster `id`; returns how many. */
export function selectCluster(
  clusters: Int32Array,
  id: number,
  eligible: Uint8Array,
  out: Uint8Array,
): number {
  let count = 0;
  for (let i = 0; i < clusters.length; i++) {
    if (clusters[i] === id && eligible[i]) {
      out[i] = 1;
      count++;
    }
  }
  return count;
}

/** Set `out[i] = 1` for the eligible points among `indices`; returns how many. */
export function selectIndices(indices: Uint32Array, eligible: Uint8Array, out: Uint8Array): number {
  let count = 0;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (i < eligible.length && eligible[i]) {
      out[i] = 1;
      count++;
    }
  }
  return count;
}

/** An undoable change of some points' words. */
export interface PointEdit {
  indices: Uint32Array;
  before: Uint32Array;
  after: Uint32Array;
}

/** The label word of a semantic class id and an instance id (both 0..65535). */
export function labelWord(semantic: number, instance = 0): number {
  return ((semantic & 0xffff) | ((instance & 0xffff) << 16)) >>> 0;
}

/**
 * Give the selected points (`selected[i] = 1`) the word `word`; returns the edit (only the
 * points whose word changed), or null when nothing changed. `selected` is left as it was.
 */
export function applyWord(words: Uint32Array, selected: Uint8Array, word: number): PointEdit | null {
  let changed = 0;
  for (let i = 0; i < words.length; i++) if (selected[i] && words[i] !== word) changed++;
  if (changed === 0) return null;
  const edit: PointEdit = {
    indices: new Uint32Array(changed),
    before: new Uint32Array(changed),
    after: new Uint32Array(changed).fill(word),
  };
  let k = 0;
  for (let i = 0; i < words.length; i++) {
    if (selected[i] && words[i] !== word) {
      edit.indices[k] = i;
      edit.before[k] = words[i];
      words[i] = word;
      k++;
    }
  }
  return edit;
}

/** The edit that turns `before` into `words` (a brush stroke, after it ended), or null. */
export function diffWords(before: Uint32Array, words: Uint32Array): PointEdit | null {
  let changed = 0;
  for (let i = 0; i < words.length; i++) if (before[i] !== words[i]) changed++;
  if (changed === 0) return null;
  const edit: PointEdit = {
    indices: new Uint32Array(changed),
    before: new Uint32Array(changed),
    after: new Uint32Array(changed),
  };
  let k = 0;
  for (let i = 0; i < words.length; i++) {
    if (before[i] !== words[i]) {
      edit.indices[k] = i;
      edit.before[k] = before[i];
      edit.after[k] = words[i];
      k++;
    }
  }
  return edit;
}

/** Undo (`forward` false) or redo an edit in place. */
export function replay(words: Uint32Array, edit: PointEdit, forward: boolean): void {
  const values = forward ? edit.after : edit.before;
  for (let k = 0; k < edit.indices.length; k++) words[edit.indices[k]] = values[k];
}

/** How many points carry a class (semantic id != 0). */
export function labelledCount(words: Uint32Array): number {
  let count = 0;
  for (let i = 0; i < words.length; i++) if ((words[i] & 0xffff) !== 0) count++;
  return count;
}
