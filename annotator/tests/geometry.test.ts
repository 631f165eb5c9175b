// Unit tests of the page's own pure code (node:test): the box-frame maths the top view's mouse
// handling uses, undo/redo, and the shortcut table. (Box fitting and IoU are not here: they
// live once, in Python, and the page calls the API for them.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { LabelState, dragInSlice, inFootprint, sliceFrame, toBoxFrame, wrapAngle } from "../src/state.js";
import { SHORTCUTS, match } from "../src/shortcuts.js";

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test("wrapAngle maps to (-pi, pi]", () => {
  close(wrapAngle(Math.PI), Math.PI);
  close(wrapAngle(-Math.PI), Math.PI);
  close(wrapAngle(3 * Math.PI + 0.1), -Math.PI + 0.1);
  close(wrapAngle(-0.25), -0.25);
});

test("toBoxFrame: u along the heading, v to its left", () => {
  const box = [10, 2, 0, 4, 2, 1.5, Math.PI / 2]; // heading +y
  const [u, v] = toBoxFrame(box, 10, 3); // one metre ahead
  close(u, 1);
  close(v, 0);
  const [u2, v2] = toBoxFrame(box, 9, 2); // one metre to the left of a box facing +y
  close(u2, 0);
  close(v2, 1);
});

test("inFootprint honours yaw and margin", () => {
  const box = [0, 0, 0, 4, 2, 1.5, Math.PI / 4];
  assert.ok(inFootprint(box, 1.4, 1.4)); // 1.98 m along the diagonal heading
  assert.ok(!inFootprint(box, 1.0, -1.0)); // 1.41 m to the side of a 1 m half width
  assert.ok(inFootprint(box, 1.0, -1.0, 0.5));
});

test("LabelState undo and redo restore snapshots; unchanged edits are not recorded", () => {
  const state = new LabelState();
  const changes: boolean[] = [];
  state.onChange((changed) => changes.push(changed));
  const box = { id: "b1", frame_id: "f", track_id: 1, class_name: "car", box: [0, 0, 0, 4, 2, 1.5, 0], attributes: {}, interpolated: false };
  state.reset([box]);
  state.select({ layer: "labels", id: "b1" });
  state.editSelected((b) => (b.class_name = "truck"));
  state.editSelected((b) => (b.class_name = "truck")); // no change: no undo step
  assert.equal(state.byId("b1")?.class_name, "truck");
  state.undo();
  assert.equal(state.byId("b1")?.class_name, "car");
  assert.ok(!state.canUndo);
  state.redo();
  assert.equal(state.byId("b1")?.class_name, "truck");
  assert.deepEqual(state.freshIds(), { id: "b2", track_id: 2 });
  assert.equal(box.class_name, "car"); // reset copied the input
  assert.deepEqual(changes, [false, false, true, true, true]);
});

test("shortcuts: every key is unique per mode, Ctrl+Z differs from Ctrl+z", () => {
  for (const mode of ["annotate", "review"] as const) {
    const seen = new Set<string>();
    for (const s of SHORTCUTS.filter((s) => !s.mode || s.mode === mode)) {
      for (const key of s.keys) {
        assert.ok(!seen.has(key), `${key} is bound twice in ${mode}`);
        seen.add(key);
      }
    }
  }
  const key = (k: string, ctrl = false) => ({ key: k, ctrlKey: ctrl, metaKey: false }) as KeyboardEvent;
  assert.equal(match(key("z", true), "annotate")?.shortcut.action, "undo");
  assert.equal(match(key("Z", true), "annotate")?.shortcut.action, "redo");
  assert.equal(match(key("Q"), "annotate")?.shortcut.action, "rotate");
  assert.equal(match(key("x"), "annotate"), null);
  assert.equal(match(key("x"), "review")?.shortcut.action, "reject-box");
  assert.equal(match(key("3"), "annotate")?.index, 2);
});

test("one history: point edits (record) and box edits undo and redo in order", () => {
  const state = new LabelState();
  const box = { id: "b1", frame_id: "f", track_id: 1, class_name: "car", box: [0, 0, 0, 4, 2, 1.5, 0], attributes: {}, interpolated: false };
  state.reset([box]);
  state.select({ layer: "labels", id: "b1" });
  const painted: string[] = [];
  state.editSelected((b) => (b.class_name = "truck"));
  state.record({ undo: () => painted.pop(), redo: () => painted.push("road") });
  painted.push("road"); // the edit was made, then recorded
  state.editSelected((b) => (b.class_name = "bus"));
  state.undo(); // the bus
  assert.equal(state.byId("b1")?.class_name, "truck");
  assert.deepEqual(painted, ["road"]);
  state.undo(); // the paint
  assert.deepEqual(painted, []);
  state.undo(); // the truck
  assert.equal(state.byId("b1")?.class_name, "car");
  state.redo();
  state.redo();
  assert.deepEqual(painted, ["road"]);
  assert.equal(state.byId("b1")?.class_name, "truck");
  state.record({ undo: () => undefined, redo: () => undefined }); // a new edit drops the redo
  state.redo();
  assert.equal(state.byId("b1")?.class_name, "truck");
});

test("sliceFrame and dragInSlice: move, resize along the view and resize the height", () => {
  const box = [10, 2, -0.9, 4, 2, 1.5, Math.PI / 2]; // heading +y
  const side = sliceFrame(box, "side");
  close(side.right[0], 0);
  close(side.right[1], 1); // the heading is to the right of the side view
  assert.equal(side.along, 4);
  const front = sliceFrame(box, "front");
  close(front.right[0], -1); // the box's left (-x here) is to the right of the front view
  assert.equal(front.along, 2);
  // move 0.5 m right and 0.2 m up in the front view: -x by 0.5, z by 0.2
  const moved = dragInSlice(box, "front", { kind: "move" }, 0.1, 0.1, 0.6, 0.3);
  [9.5, 2, -0.7, 4, 2, 1.5, Math.PI / 2].forEach((v, i) => close(moved[i], v));
  // the front end (right edge, +2 m) of the side view pulled 1 m out: 5 m long, centre +0.5 m ahead
  const longer = dragInSlice(box, "side", { kind: "along", side: 1 }, 2, 0, 3, 0);
  [10, 2.5, -0.9, 5, 2, 1.5].forEach((v, i) => close(longer[i], v));
  // the top pulled 0.3 m up: 1.8 m high, the bottom stays
  const taller = dragInSlice(box, "side", { kind: "height", side: 1 }, 0, 0.75, 0, 1.05);
  close(taller[5], 1.8);
  close(taller[2] - taller[5] / 2, box[2] - box[5] / 2);
  // an edge dragged onto the opposite one keeps 0.1 m
  close(dragInSlice(box, "front", { kind: "along", side: -1 }, -1, 0, 1, 0)[4], 0.1);
});
