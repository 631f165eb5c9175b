// Unit tests of the coarse-first points reader (lod.ts) on the server's own payload
// (tests/golden/lod_points.lod, checked against backend/annotation/lod.py by
// tests/backend/annotation/test_lod.py): every point back in the frame's order, bit for bit,
// whatever the chunks; the coarse level ready before the rest; broken payloads refused.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { LodReader, readLod } from "../src/lod.js";

const golden = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../../tests/golden/${name}`, import.meta.url)));
const payload = golden("lod_points.lod");
const frame = golden("lod_points.f32");

const asFloats = (bytes: Uint8Array) => new Float32Array(bytes.slice().buffer);

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

test("the points come back in the frame's order, whatever the chunks", () => {
  for (const size of [1, 3, 7, 64, payload.length]) {
    const lod = new LodReader();
    let coarseAt = -1;
    for (let at = 0; at < payload.length; at += size) {
      lod.push(payload.subarray(at, at + size));
      if (coarseAt < 0 && lod.coarseReady) coarseAt = at + size;
    }
    assert.ok(lod.complete);
    assert.deepEqual(new Uint8Array(lod.points().buffer), frame, `chunks of ${size} bytes`);
    // the coarse level is ready once its indices and points are in, long before the rest
    assert.ok(coarseAt - size < 8 + 20 * lod.k, `coarse ready at byte ${coarseAt}`);
  }
});

test("the coarse level is the indexed points of the frame", () => {
  const lod = new LodReader();
  lod.push(payload);
  const all = asFloats(frame);
  const index = new Uint32Array(payload.slice(8, 8 + 4 * lod.k).buffer);
  const coarse = lod.coarse();
  assert.equal(coarse.length, 4 * lod.k);
  index.forEach((i, j) => assert.deepEqual(coarse.subarray(4 * j, 4 * j + 4), all.subarray(4 * i, 4 * i + 4)));
});

test("readLod shows the coarse level only while more is to come", async () => {
  const split = 8 + 20 * 25 + 16; // header, 25 coarse indices and points, one more point
  let shown: Float32Array | null = null;
  const points = await readLod(streamOf([payload.subarray(0, split), payload.subarray(split)]), (c) => (shown = c));
  assert.deepEqual(new Uint8Array(points.buffer), frame);
  assert.equal((shown as Float32Array | null)?.length, 4 * 25);
  let again = false;
  await readLod(streamOf([payload]), () => (again = true));
  assert.equal(again, false, "one chunk with everything: straight to the full cloud");
});

test("broken payloads are refused with what is wrong", () => {
  const short = new LodReader();
  short.push(payload.subarray(0, payload.length - 4));
  assert.throws(() => short.points(), /bytes arrived/);
  const long = new LodReader();
  assert.throws(() => long.push(new Uint8Array([...payload, 0])), /more than the/);
  const shuffled = payload.slice();
  new DataView(shuffled.buffer).setUint32(8, 299, true); // first coarse index out of order
  const bad = new LodReader();
  bad.push(shuffled);
  assert.throws(() => bad.points(), /not an ascending index/);
  const head = new Uint8Array(8);
  new DataView(head.buffer).setUint32(0, 3, true);
  new DataView(head.buffer).setUint32(4, 4, true);
  assert.throws(() => new LodReader().push(head), /coarse level of 4 in a frame of 3/);
});
