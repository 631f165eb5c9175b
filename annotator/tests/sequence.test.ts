// Unit tests of the sequence geometry (node:test): pose transforms, interpolation between
// keyframes in the world frame, what an edit of an interpolated box does, the motion a
// propagated box is moved by, and the label state across frames with undo showing the frame.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BoxLabel } from "../src/api/client.js";
import {
  interpolateTracks,
  lerpBox,
  predictBox,
  sequenceFrames,
  settleEdit,
  toSensor,
  toWorld,
  type Pose,
  type SeqFrame,
} from "../src/sequence.js";
import { LabelState } from "../src/state.js";

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);
const closeAll = (a: number[], b: number[], tol = 1e-9) => a.forEach((v, i) => close(v, b[i], tol));

const pose = (x: number, y: number, yaw: number, extra: Partial<Pose> = {}): Pose => ({
  x,
  y,
  z: 1.73,
  roll: 0,
  pitch: 0,
  yaw,
  ...extra,
});

/** An ego driving at 10 m/s along world +x while turning left at 0.2 rad/s, 10 Hz frames. */
const DRIVE: SeqFrame[] = [0, 1, 2, 3].map((i) => ({ id: `f${i}`, t: 100 + i / 10, pose: pose(i, 0.05 * i, 0.02 * i) }));

/** A world box seen from a frame: in that frame's sensor frame. */
const seen = (world: number[], frame: SeqFrame) => toSensor(world, frame.pose);

const label = (id: string, frame: string, track: number, box: number[], extra: Partial<BoxLabel> = {}): BoxLabel => ({
  id,
  frame_id: frame,
  track_id: track,
  class_name: "car",
  box,
  attributes: {},
  score: null,
  interpolated: false,
  ...extra,
});

test("toWorld and toSensor are inverse, with roll and pitch too", () => {
  const p = pose(120.5, -40.25, 2.9, { roll: 0.03, pitch: -0.05, z: 1.9 });
  const box = [12.3, -4.1, -0.8, 4.2, 1.8, 1.6, -2.7];
  const back = toSensor(toWorld(box, p), p);
  closeAll(back.slice(0, 6), box.slice(0, 6), 1e-9);
  // the heading goes through its projection on the ground plane: exact without roll and pitch,
  // off by second-order terms (here 0.03 x 0.05 rad) with them
  close(back[6], box[6], 2e-3);
  const flat = pose(120.5, -40.25, 2.9);
  closeAll(toSensor(toWorld(box, flat), flat), box, 1e-9);
  // flat pose: a box ahead of a sensor facing world +y lies along world +y
  const w = toWorld([10, 0, 0, 4, 2, 1.5, 0], pose(5, 5, Math.PI / 2));
  closeAll(w, [5, 15, 1.73, 4, 2, 1.5, Math.PI / 2]);
});

test("lerpBox: centre and size linear, heading the shorter way round", () => {
  const a = [0, 0, 0, 4, 2, 1.5, (170 * Math.PI) / 180];
  const b = [2, 4, 1, 5, 2, 1.5, (-170 * Math.PI) / 180];
  const mid = lerpBox(a, b, 0.5);
  closeAll(mid.slice(0, 6), [1, 2, 0.5, 4.5, 2, 1.5]);
  close(Math.abs(mid[6]), Math.PI, 1e-12); // through 180 degrees, not through 0
  close(lerpBox(a, b, 0.25)[6], (175 * Math.PI) / 180, 1e-12);
});

test("sequenceFrames sorts by capture time and reads the poses", () => {
  const frames = sequenceFrames([
    { id: "late", captured_at_ns: 2e9, pose: { x: 1, y: 2, z: 3, roll: 0, pitch: 0, yaw: 0.5 } },
    { id: "early", captured_at_ns: 1e9, pose: { x: 0 } },
  ]);
  assert.deepEqual(frames.map((f) => f.id), ["early", "late"]);
  close(frames[0].t, 1);
  assert.deepEqual(frames[0].pose, { x: 0, y: 0, z: 0, roll: 0, pitch: 0, yaw: 0 });
  close(frames[1].pose.yaw, 0.5);
});

test("between two keyframes a parked car stays put in the world while the ego moves", () => {
  const parked = [30, 4, -0.9, 4.2, 1.8, 1.6, 0.4]; // world frame
  const boxes = [label("a", "f0", 7, seen(parked, DRIVE[0])), label("b", "f3", 7, seen(parked, DRIVE[3]))];
  const all = interpolateTracks(boxes, DRIVE);
  const between = all.filter((b) => b.interpolated);
  assert.deepEqual(between.map((b) => [b.frame_id, b.track_id, b.id]), [["f1", 7, "t7f1"], ["f2", 7, "t7f2"]]);
  for (const b of between) {
    const frame = DRIVE.find((f) => f.id === b.frame_id) as SeqFrame;
    closeAll(toWorld(b.box, frame.pose), parked, 1e-9);
  }
  // interpolating again changes nothing (ids kept): an edit that did nothing stays a no-op
  assert.deepEqual(interpolateTracks(all, DRIVE), all);
});

test("a moving car is interpolated linearly in time in the world frame, size and heading too", () => {
  const start = [20, 0, -0.9, 4.0, 1.8, 1.5, 0.0];
  const end = [26, 3, -0.9, 4.6, 1.8, 1.5, 0.6]; // at frame 3
  const boxes = [label("a", "f0", 1, seen(start, DRIVE[0])), label("b", "f3", 1, seen(end, DRIVE[3]), { class_name: "truck" })];
  const at1 = interpolateTracks(boxes, DRIVE).find((b) => b.frame_id === "f1") as BoxLabel;
  closeAll(toWorld(at1.box, DRIVE[1].pose), [22, 1, -0.9, 4.2, 1.8, 1.5, 0.2], 1e-9);
  assert.equal(at1.class_name, "car"); // the earlier keyframe's class
  // keyframes next to each other, or one only: nothing to interpolate
  assert.equal(interpolateTracks([boxes[0]], DRIVE).length, 1);
});

test("editing an interpolated box makes it a keyframe; deleting a keyframe drops what it spanned", () => {
  const parked = [30, 4, -0.9, 4.2, 1.8, 1.6, 0.4];
  const settle = settleEdit(DRIVE);
  let all = interpolateTracks([label("a", "f0", 2, seen(parked, DRIVE[0])), label("b", "f3", 2, seen(parked, DRIVE[3]))], DRIVE);
  const before = new Map(all.map((b) => [b.id, JSON.stringify(b)]));
  const moved = all.find((b) => b.frame_id === "f1") as BoxLabel;
  moved.box = [...moved.box];
  moved.box[1] += 0.5;
  all = settle(all, before);
  const f1 = all.find((b) => b.frame_id === "f1") as BoxLabel;
  const f2 = all.find((b) => b.frame_id === "f2") as BoxLabel;
  assert.equal(f1.interpolated, false);
  assert.equal(f2.interpolated, true); // now between the new keyframe and f3
  const world2 = toWorld(f2.box, DRIVE[2].pose);
  const world1 = toWorld(f1.box, DRIVE[1].pose);
  closeAll(world2.slice(0, 2), [(world1[0] + parked[0]) / 2, (world1[1] + parked[1]) / 2], 1e-9);
  // a reset (no "before") leaves interpolated boxes interpolated
  assert.ok(settle(structuredClone(all), new Map()).some((b) => b.interpolated));
  const withoutLast = all.filter((b) => b.id !== "b");
  assert.ok(settle(withoutLast, new Map(withoutLast.map((b) => [b.id, JSON.stringify(b)]))).every((b) => !b.interpolated));
});

test("predictBox moves by the last two keyframes' world velocity, ego motion taken out", () => {
  // a car driving at 8 m/s along world +y, seen from the turning, moving ego
  const worldAt = (t: number) => [25, -10 + 8 * (t - 100), -0.9, 4.2, 1.8, 1.6, Math.PI / 2];
  const keys = [0, 1].map((i) => ({ box: seen(worldAt(DRIVE[i].t), DRIVE[i]), frame: DRIVE[i] }));
  const current = seen(worldAt(DRIVE[1].t), DRIVE[1]);
  const { box, velocity } = predictBox(current, DRIVE[1], DRIVE[2], keys);
  closeAll(velocity, [0, 8], 1e-9);
  closeAll(toWorld(box, DRIVE[2].pose), worldAt(DRIVE[2].t), 1e-9);
  // one keyframe only: no motion of its own, so it stays put in the world
  const still = predictBox(current, DRIVE[1], DRIVE[2], keys.slice(1));
  closeAll(still.velocity, [0, 0]);
  closeAll(toWorld(still.box, DRIVE[2].pose), worldAt(DRIVE[1].t), 1e-9);
  // keyframes after the source frame do not count
  const later = { box: seen(worldAt(DRIVE[3].t), DRIVE[3]), frame: DRIVE[3] };
  closeAll(predictBox(current, DRIVE[1], DRIVE[2], [...keys, later]).velocity, [0, 8], 1e-9);
});

test("the label state edits one frame at a time; undo shows the frame of the edit first", async () => {
  const state = new LabelState();
  state.normalise = settleEdit(DRIVE);
  state.frameId = "f0";
  const shown: string[] = [];
  state.showFrame = async (id) => {
    shown.push(id);
    state.setFrame(id);
  };
  state.reset([label("a", "f0", 1, [10, 0, 0, 4, 2, 1.5, 0]), label("b", "f2", 1, [12, 0, 0, 4, 2, 1.5, 0])]);
  assert.deepEqual(state.boxes.map((b) => b.id), ["a"]);
  assert.equal(state.all().length, 3); // with the interpolated box on f1
  state.setFrame("f2");
  assert.deepEqual(state.boxes.map((b) => b.id), ["b"]);
  assert.equal(state.freshIds().id, "b1"); // unique over every frame
  state.edit((boxes) => void (boxes[0].box = [14, 0, 0, 4, 2, 1.5, 0]));
  state.setFrame("f0");
  await state.undo();
  assert.deepEqual(shown, ["f2"]);
  assert.equal(state.frameId, "f2");
  assert.deepEqual(state.boxes[0].box, [12, 0, 0, 4, 2, 1.5, 0]);
  const f1 = state.all().find((b) => b.frame_id === "f1") as BoxLabel;
  assert.ok(f1.interpolated);
  await state.redo();
  assert.deepEqual(state.boxes[0].box, [14, 0, 0, 4, 2, 1.5, 0]);
});
