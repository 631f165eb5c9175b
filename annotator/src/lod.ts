// The coarse-first (`lod`) form of a frame's points, read as it streams in: the server sends
// a spatially even coarse level first (one point per occupied voxel, with the points' indices
// in the frame), then every other point in the frame's order (backend/annotation/lod.py has
// the layout). The page draws the coarse level as soon as it has arrived and, once the rest
// is in, puts every point back in the frame's order exactly: the per-point arrays of the API
// (label words, heights, clusters, points-in-box indices) are indexed in that order.

/** bytes of the header: the frame's point count N and the coarse level's K (uint32 each) */
const HEADER = 8;
/** float32 values per point: x, y, z (sensor frame, metres), intensity (0..1) */
const STRIDE = 4;

export class LodReader {
  private readonly head = new Uint8Array(HEADER);
  private headFilled = 0;
  /** everything after the header: K indices, K coarse points, N - K other points */
  private body: Uint8Array | null = null;
  private filled = 0;
  /** points in the frame */
  n = 0;
  /** points in the coarse level */
  k = 0;

  /** Take the next bytes of the stream (chunks may split anything, the header too). */
  push(chunk: Uint8Array): void {
    let at = 0;
    if (this.body === null) {
      at = Math.min(HEADER - this.headFilled, chunk.length);
      this.head.set(chunk.subarray(0, at), this.headFilled);
      this.headFilled += at;
      if (this.headFilled < HEADER) return;
      const view = new DataView(this.head.buffer);
      this.n = view.getUint32(0, true);
      this.k = view.getUint32(4, true);
      if (this.k > this.n) throw new Error(`lod points: a coarse level of ${this.k} in a frame of ${this.n}`);
      this.body = new Uint8Array(4 * this.k + 4 * STRIDE * this.n);
    }
    const rest = chunk.subarray(at);
    if (this.filled + rest.length > this.body.length) {
      throw new Error(`lod points: more than the ${HEADER + this.body.length} bytes a frame of ${this.n} points takes`);
    }
    this.body.set(rest, this.filled);
    this.filled += rest.length;
  }

  /** Whether the coarse level has arrived. */
  get coarseReady(): boolean {
    return this.body !== null && this.filled >= 4 * this.k + 4 * STRIDE * this.k;
  }

  /** Whether every byte has arrived. */
  get complete(): boolean {
    return this.body !== null && this.filled === this.body.length;
  }

  /** The coarse level's points (float32 (K, 4); a view, no copy). */
  coarse(): Float32Array {
    if (!this.coarseReady || this.body === null) throw new Error("lod points: the coarse level has not arrived");
    return new Float32Array(this.body.buffer, 4 * this.k, STRIDE * this.k);
  }

  /** Every point in the frame's order (float32 (N, 4)); an Error when bytes are missing or
   * the coarse indices are not ascending indices of the frame. */
  points(): Float32Array {
    if (!this.complete || this.body === null) {
      throw new Error(`lod points: ${HEADER + this.filled} of ${HEADER + (this.body?.length ?? 0)} bytes arrived`);
    }
    const { n, k } = this;
    const index = new Uint32Array(this.body.buffer, 0, k);
    const coarse = new Float32Array(this.body.buffer, 4 * k, STRIDE * k);
    const rest = new Float32Array(this.body.buffer, 4 * k + 4 * STRIDE * k, STRIDE * (n - k));
    const out = new Float32Array(STRIDE * n);
    let c = 0; // next coarse point
    let r = 0; // next other point
    for (let i = 0; i < n; i++) {
      const fromCoarse = c < k && index[c] === i;
      const src = fromCoarse ? coarse : rest;
      const at = STRIDE * (fromCoarse ? c++ : r++);
      out[STRIDE * i] = src[at];
      out[STRIDE * i + 1] = src[at + 1];
      out[STRIDE * i + 2] = src[at + 2];
      out[STRIDE * i + 3] = src[at + 3];
    }
    if (c !== k) throw new Error(`lod points: coarse index ${index[c]} is not an ascending index of ${n} points`);
    return out;
  }
}

/** Read a `lod` stream to the end: `onCoarse` gets the coarse level when it has arrived while
 * more is still to come (never when the whole frame came at once: drawing it would only delay
 * the full cloud); resolves with every point in the frame's order. */
export async function readLod(
  stream: ReadableStream<Uint8Array>,
  onCoarse?: (coarse: Float32Array) => void,
): Promise<Float32Array> {
  const lod = new LodReader();
  const reader = stream.getReader();
  let shown = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    lod.push(value);
    if (!shown && onCoarse && lod.coarseReady && !lod.complete) {
      shown = true;
      onCoarse(lod.coarse());
    }
  }
  return lod.points();
}
