// Unit tests of point segmentation's pure core (segment.ts) and the point-label codec
// (pointcodec.ts): projection, polygon / brush / cluster selection over typed arrays, edits
// that undo exactly, and the API's compressed forms both ways.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  HEIGHT_BANDS,
  applyWord,
  diffWords,
  eligibleMask,
  labelWord,
  labelledCount,
  nearestPoint,
  projectPoints,
  replay,
  selectCluster,
  selectInPolygon,
  selectInStroke,
  selectIndices,
} from "../src/segment.js";
import { decodeWords, encodeWords } from "../src/pointcodec.js";

/** points (x, y, z, intensity) from [x, y, z] triples */
const cloud = (xyz: number[][]) => new Float32Array(xyz.flatMap(([x, y, z]) => [x, y, z, 0.5]));

/** screen positions straight from [x, y] pairs */
const screenOf = (xy: number[][]) => new Float32Array(xy.flat());

const ones = (n: number) => new Uint8Array(n).fill(1);

test("projectPoints maps clip space to the view's pixels, y down; behind the camera is NaN", () => {
  // a camera looking down -z at the origin: clip = (x / 10, y / 10, z / 100, w = -z / 10 + 1)
  const m = new Float32Array(16);
  m[0] = 0.1; // x
  m[5] = 0.1; // y
  m[10] = 0.01; // z
  m[11] = -0.1; // w from z
  m[15] = 1;
  const out = new Float32Array(6);
  projectPoints(cloud([[0, 0, 0], [10, -10, 0], [0, 0, 20]]), m, 200, 100, out);
  assert.deepEqual([...out.slice(0, 4)], [100, 50, 200, 100]); // centre, then bottom right
  assert.ok(Number.isNaN(out[4]) && Number.isNaN(out[5])); // w = -1: behind
});

test("selectInPolygon: even-odd inside a concave outline, eligible points only", () => {
  // a U shape: the notch (x 4..6, y 0..6) is outside
  const u = [0, 0, 4, 0, 4, 6, 6, 6, 6, 0, 10, 0, 10, 10, 0, 10];
  const screen = screenOf([[2, 2], [5, 2], [8, 2], [5, 8], [11, 5], [Number.NaN, Number.NaN], [2, 9]]);
  const eligible = ones(7);
  eligible[6] = 0;
  const out = new Uint8Array(7);
  assert.equal(selectInPolygon(screen, u, eligible, out), 3);
  assert.deepEqual([...out], [1, 0, 1, 1, 0, 0, 0]);
  // the other winding selects the same
  const back: number[] = [];
  for (let i = u.length - 2; i >= 0; i -= 2) back.push(u[i], u[i + 1]);
  const out2 = new Uint8Array(7);
  selectInPolygon(screen, back, eligible, out2);
  assert.deepEqual([...out2], [...out]);
  assert.equal(selectInPolygon(screen, [0, 0, 5, 5], eligible, new Uint8Array(7)), 0); // a line
});

test("selectInStroke covers the capsule between two pointer positions", () => {
  const screen = screenOf([[0, 0], [50, 4], [100, -4], [50, 6], [-5, 0], [106, 0]]);
  const out = new Uint8Array(6);
  assert.equal(selectInStroke(screen, 0, 0, 100, 0, 5, ones(6), out), 4);
  assert.deepEqual([...out], [1, 1, 1, 0, 1, 0]);
  const dot = new Uint8Array(6);
  assert.equal(selectInStroke(screen, 0, 0, 0, 0, 5, ones(6), dot), 2); // a click: a disc
});

test("nearestPoint, cluster and index selection honour eligibility", () => {
  const screen = screenOf([[10, 10], [13, 10], [30, 30]]);
  const eligible = ones(3);
  assert.equal(nearestPoint(screen, 12, 10, 5, eligible), 1);
  eligible[1] = 0;
  assert.equal(nearestPoint(screen, 12, 10, 5, eligible), 0);
  assert.equal(nearestPoint(screen, 50, 50, 5, eligible), -1);
  const out = new Uint8Array(3);
  assert.equal(selectCluster(new Int32Array([4, 4, 4]), 4, eligible, out), 2);
  assert.deepEqual([...out], [1, 0, 1]);
  const out2 = new Uint8Array(3);
  assert.equal(selectIndices(new Uint32Array([1, 2, 99]), eligible, out2), 1);
  assert.deepEqual([...out2], [0, 0, 1]);
});

test("eligibleMask: hidden labelled points and the height band (no height: only 'any')", () => {
  const words = new Uint32Array([0, labelWord(20, 3), 0, 0]);
  const heights = new Float32Array([0.05, 1.0, 1.2, Number.NaN]);
  const out = new Uint8Array(4);
  const [any, ground, above] = HEIGHT_BANDS;
  eligibleMask(words, heights, any, false, out);
  assert.deepEqual([...out], [1, 1, 1, 1]);
  eligibleMask(words, heights, any, true, out);
  assert.deepEqual([...out], [1, 0, 1, 1]);
  eligibleMask(words, heights, ground, false, out);
  assert.deepEqual([...out], [1, 0, 0, 0]);
  eligibleMask(words, heights, above, true, out);
  assert.deepEqual([...out], [0, 0, 1, 0]);
  eligibleMask(words, null, above, false, out); // heights not loaded: nothing
  assert.deepEqual([...out], [0, 0, 0, 0]);
});

test("applyWord / diffWords record exactly the changed points and replay undoes them", () => {
  const words = new Uint32Array([0, 5, 20, 0]);
  const original = words.slice();
  assert.equal(labelWord(20, 3), 20 | (3 << 16));
  assert.equal(labelWord(60, 0xffff), (60 | (0xffff << 16)) >>> 0);
  const edit = applyWord(words, new Uint8Array([1, 1, 1, 0]), 20)!;
  assert.deepEqual([...edit.indices], [0, 1]); // point 2 was 20 already
  assert.deepEqual([...words], [20, 20, 20, 0]);
  assert.equal(applyWord(words, new Uint8Array([1, 0, 0, 0]), 20), null);
  replay(words, edit, false);
  assert.deepEqual([...words], [...original]);
  replay(words, edit, true);
  assert.equal(labelledCount(words), 3);
  const before = words.slice();
  words[3] = 6;
  const stroke = diffWords(before, words)!;
  assert.deepEqual([...stroke.indices], [3]);
  assert.equal(diffWords(words, words), null);
});

test("the codec: gzip out, and the server's zstd (made by backend.annotation.labels) in", async () => {
  const words = new Uint32Array(120_000);
  words.fill(labelWord(6), 1000, 60_000);
  words.fill(labelWord(20, 7), 70_000, 71_000);
  const encoded = await encodeWords(words);
  assert.equal(encoded.encoding, "gzip-u32le-base64");
  assert.equal(encoded.count, 120_000);
  assert.ok(encoded.data.length < 10_000, `${encoded.data.length} base64 characters`);
  assert.deepEqual(await decodeWords(encoded, 120_000), words);
  await assert.rejects(decodeWords(encoded, 5), /120000 words for a frame of 5 points/);
  // points_to_json(PointLabels(semantic=[0, 1, 20, 20, 6, 0, 23, 0], instance=[0, 0, 3, 3, 0, 0, 9, 0]))
  const server = { encoding: "zstd-u32le-base64" as const, count: 8, data: "KLUv/SAg7QAAqAAAAAABAAAAFAADBgAXAAkAAAAAAAIAuMFfzgs=" };
  const semantic = [0, 1, 20, 20, 6, 0, 23, 0];
  const instance = [0, 0, 3, 3, 0, 0, 9, 0];
  assert.deepEqual([...(await decodeWords(server, 8))], semantic.map((s, i) => labelWord(s, instance[i])));
});
