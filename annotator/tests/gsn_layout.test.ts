// The safety case's layout (dagre) and the number formats of the dashboards.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  duration,
  failedCheck,
  groupBySlice,
  interval,
  num,
  signed,
} from "../src/dashboard/format.js";
import {
  layoutCase,
  statusColour,
  wrapText,
  type GsnLink,
  type GsnNode,
} from "../src/dashboard/gsn_layout.js";

const node = (id: string, kind: string, status: string | null = "supported"): GsnNode => ({
  id,
  kind,
  text: `the text of ${id} which is long enough to need more than one line in its box`,
  status,
  undeveloped: status === "undeveloped",
});
const NODES = [
  node("G1", "goal", "violated"),
  node("C1", "context", null),
  node("S1", "strategy", "violated"),
  node("G2", "goal"),
  node("G3", "goal", "violated"),
  node("G4", "goal", "undeveloped"),
  node("Sn1", "solution"),
  node("Sn2", "solution", "violated"),
];
const LINKS: GsnLink[] = [
  { source: "G1", target: "C1", kind: "inContextOf" },
  { source: "G1", target: "S1", kind: "supportedBy" },
  { source: "S1", target: "G2", kind: "supportedBy" },
  { source: "S1", target: "G3", kind: "supportedBy" },
  { source: "S1", target: "G4", kind: "supportedBy" },
  { source: "G2", target: "Sn1", kind: "supportedBy" },
  { source: "G3", target: "Sn2", kind: "supportedBy" },
];

test("layoutCase: support flows left to right, no two boxes overlap, all inside the canvas", () => {
  const laid = layoutCase(NODES, LINKS);
  const at = new Map(laid.nodes.map((n) => [n.id, n]));
  assert.equal(laid.nodes.length, NODES.length);
  for (const link of LINKS) {
    const [s, t] = [at.get(link.source)!, at.get(link.target)!];
    assert.ok(t.x > s.x, `${link.target} (x ${t.x}) is not right of ${link.source} (x ${s.x})`);
  }
  for (const a of laid.nodes) {
    assert.ok(a.x - a.width / 2 >= 0 && a.x + a.width / 2 <= laid.width, `${a.id} outside in x`);
    assert.ok(a.y - a.height / 2 >= 0 && a.y + a.height / 2 <= laid.height, `${a.id} outside in y`);
    for (const b of laid.nodes) {
      if (a.id >= b.id) continue;
      const apart =
        Math.abs(a.x - b.x) >= (a.width + b.width) / 2 ||
        Math.abs(a.y - b.y) >= (a.height + b.height) / 2;
      assert.ok(apart, `${a.id} overlaps ${b.id}`);
    }
  }
  for (const e of laid.edges)
    assert.ok(e.points.length >= 2, `${e.source}->${e.target} has no route`);
  assert.ok(at.get("G1")!.lines.length > 1 && at.get("G1")!.lines[0].startsWith("G1: "));
});

test("layoutCase refuses a link to an unknown node; colours follow the status", () => {
  assert.throws(
    () => layoutCase(NODES, [...LINKS, { source: "G2", target: "Sn9", kind: "supportedBy" }]),
    /G2 -> Sn9: no node Sn9/,
  );
  assert.notEqual(statusColour("violated"), statusColour("supported"));
  assert.equal(statusColour(null), statusColour("no such status"));
});

test("wrapText keeps words whole and lines short", () => {
  assert.deepEqual(wrapText("one two three four", 9), ["one two", "three", "four"]);
  assert.deepEqual(wrapText("incomprehensibilities ok", 5), ["incomprehensibilities", "ok"]);
  assert.deepEqual(wrapText("   ", 5), [""]);
});

test("number formats and the grouping of gate checks", () => {
  assert.equal(signed(-0.2), "−0.200");
  assert.equal(signed(0.05, 2), "+0.05");
  assert.equal(interval(0.1, null), "–");
  assert.equal(interval(-0.25, -0.15), "[−0.250, −0.150]");
  assert.equal(num(-0.0001), "0.000"); // no minus sign on a rounded zero
  assert.equal(duration(42), "42 s");
  assert.equal(duration(900), "15.0 min");
  const checks = [
    { kind: "no_regression", slice: "all", passed: true, gated: true },
    { kind: "no_regression", slice: "class:dog", passed: false, gated: true },
    { kind: "drift", slice: "", passed: false, gated: false }, // reported only: not a failure
    { kind: "verdict", slice: "", passed: false, gated: true },
  ];
  assert.deepEqual(
    groupBySlice(checks).map(([slice, rows]) => [slice, rows.length]),
    [
      ["class:dog", 1],
      ["", 1],
      ["all", 1],
    ],
  );
  assert.equal(checks.filter(failedCheck).length, 1); // the verdict row is not a check
});
