// Sequences: the pure geometry of tracks across a task's frames (no DOM, no requests).
//
// A box is [x, y, z, l, w, h, yaw] in its frame's sensor frame: metres, the box centre, yaw in
// radians about the sensor's +z from +x. A frame's pose is the sensor's pose in the world (map)
// frame: x, y, z in metres, roll, pitch, yaw in radians, R = Rz(yaw) Ry(pitch) Rx(roll), so
// world = R * sensor + (x, y, z). Interpolation and motion are worked out in the world frame,
// where a parked car stays put however the ego moves, and the result is taken back into the
// target frame's sensor frame.
//
// Keyframes are the boxes a person placed or edited (`interpolated` absent or false); between
// two consecutive keyframes of a track every frame gets an interpolated box: centre linear in
// the world frame, size linear, heading along the shorter way round; time (capture stamps) sets
// the fraction, so a dropped frame does not skew it.
import type { BoxLabel } from "./api/client";
import { wrapAngle } from "./state.js"; // ".js": Node runs the unit tests on the compiled file

export interface Pose {
  x: number;
  y: number;
  z: number;
  roll: number;
  pitch: number;
  yaw: number;
}

/** A frame of the sequence: its id, capture time (seconds) and sensor pose in the world. */
export interface SeqFrame {
  id: string;
  t: number;
  pose: Pose;
}

/** The frames of a lease in time order (`pose` keys missing from the API count as 0). */
export function sequenceFrames(
  frames: Array<{ id: string; captured_at_ns: number; pose: Record<string, number> }>,
): SeqFrame[] {
  const get = (p: Record<string, number>, k: keyof Pose) => (Number.isFinite(p[k]) ? p[k] : 0);
  return [...frames]
    .sort((a, b) => a.captured_at_ns - b.captured_at_ns)
    .map((f) => ({
      id: f.id,
      t: f.captured_at_ns / 1e9,
      pose: {
        x: get(f.pose, "x"),
        y: get(f.pose, "y"),
        z: get(f.pose, "z"),
        roll: get(f.pose, "roll"),
        pitch: get(f.pose, "pitch"),
        yaw: get(f.pose, "yaw"),
      },
    }));
}

/** The pose's rotation, row-major 3x3: R = Rz(yaw) Ry(pitch) Rx(roll). */
export function rotation(pose: Pose): number[] {
  const [cr, sr] = [Math.cos(pose.roll), Math.sin(pose.roll)];
  const [cp, sp] = [Math.cos(pose.pitch), Math.sin(pose.pitch)];
  const [cy, sy] = [Math.cos(pose.yaw), Math.sin(pose.yaw)];
  return [
    cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr,
    sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr,
    -sp, cp * sr, cp * cr,
  ];
}

function apply(r: number[], v: number[], transpose: boolean): number[] {
  const at = (i: number, j: number) => (transpose ? r[3 * j + i] : r[3 * i + j]);
  return [0, 1, 2].map((i) => at(i, 0) * v[0] + at(i, 1) * v[1] + at(i, 2) * v[2]);
}

/** A box from its frame's sensor frame into the world frame (heading: the direction of the
 * box's +x axis projected on the world's x-y plane). */
export function toWorld(box: number[], pose: Pose): number[] {
  const r = rotation(pose);
  const c = apply(r, box.slice(0, 3), false);
  const h = apply(r, [Math.cos(box[6]), Math.sin(box[6]), 0], false);
  return [c[0] + pose.x, c[1] + pose.y, c[2] + pose.z, box[3], box[4], box[5], Math.atan2(h[1], h[0])];
}

/** The inverse of `toWorld`: a world box into the sensor frame of the frame at `pose`. */
export function toSensor(box: number[], pose: Pose): number[] {
  const r = rotation(pose);
  const c = apply(r, [box[0] - pose.x, box[1] - pose.y, box[2] - pose.z], true);
  const h = apply(r, [Math.cos(box[6]), Math.sin(box[6]), 0], true);
  return [c[0], c[1], c[2], box[3], box[4], box[5], Math.atan2(h[1], h[0])];
}

/** `a` to `b` at fraction `f` (0: a, 1: b): centre and size linear, heading the shorter way
 * round; the result's heading is wrapped to (-pi, pi]. Both boxes in the same frame. */
export function lerpBox(a: number[], b: number[], f: number): number[] {
  const out = a.slice(0, 6).map((v, i) => v + (b[i] - v) * f);
  out.push(wrapAngle(a[6] + wrapAngle(b[6] - a[6]) * f));
  return out;
}

/** Where on the sequence each frame id is (its index in time order). */
function positions(frames: SeqFrame[]): Map<string, number> {
  return new Map(frames.map((f, i) => [f.id, i]));
}

/** The keyframes of `track`, in time order (boxes of frames outside `frames` left out). */
export function keyframesOf(boxes: BoxLabel[], track: number, frames: SeqFrame[]): BoxLabel[] {
  const at = positions(frames);
  return boxes
    .filter((b) => b.track_id === track && !b.interpolated && at.has(b.frame_id))
    .sort((a, b) => (at.get(a.frame_id) ?? 0) - (at.get(b.frame_id) ?? 0));
}

/**
 * Every box of the label set with the interpolated ones worked out afresh from the keyframes:
 * the keyframes as they are (in their order), then for each track and each frame strictly
 * between two consecutive keyframes of it an interpolated box (class and attributes of the
 * earlier keyframe). An interpolated box keeps the id it had for the same track and frame, so
 * saves diff cleanly; new ones get `t<track>f<frame index>` (made unique).
 */
export function interpolateTracks(boxes: BoxLabel[], frames: SeqFrame[]): BoxLabel[] {
  const at = positions(frames);
  const keys = boxes.filter((b) => !b.interpolated);
  const previous = new Map(boxes.filter((b) => b.interpolated).map((b) => [`${b.track_id}/${b.frame_id}`, b.id]));
  const taken = new Set(keys.map((b) => b.id));
  const made: BoxLabel[] = [];
  for (const track of [...new Set(keys.map((b) => b.track_id))].sort((a, b) => a - b)) {
    const chain = keyframesOf(keys, track, frames);
    for (let k = 0; k + 1 < chain.length; k++) {
      const [ka, kb] = [chain[k], chain[k + 1]];
      const [i, j] = [at.get(ka.frame_id) ?? 0, at.get(kb.frame_id) ?? 0];
      if (j - i < 2) continue;
      const [fa, fb] = [frames[i], frames[j]];
      const wa = toWorld(ka.box, fa.pose);
      const wb = toWorld(kb.box, fb.pose);
      for (let m = i + 1; m < j; m++) {
        const frame = frames[m];
        const span = fb.t - fa.t;
        const f = span > 0 ? (frame.t - fa.t) / span : (m - i) / (j - i);
        let id = previous.get(`${track}/${frame.id}`) ?? `t${track}f${m}`;
        for (let n = 2; taken.has(id); n++) id = `t${track}f${m}-${n}`;
        taken.add(id);
        made.push({
          id,
          frame_id: frame.id,
          track_id: track,
          class_name: ka.class_name,
          box: toSensor(lerpBox(wa, wb, f), frame.pose),
          attributes: { ...(ka.attributes ?? {}) },
          score: null,
          interpolated: true,
        });
      }
    }
  }
  return [...keys, ...made];
}

/**
 * Where the box `current` (on frame `from`) will be on frame `to`, as a box in `to`'s sensor
 * frame: moved by the track's velocity over the time between the two frames, with the ego's
 * own motion taken out by the poses. The velocity (world frame, horizontal, m/s) comes from the
 * track's last two keyframes at or before `from` (`keys`, any order); with fewer than two it is
 * zero. Heading and size are kept (the refit that follows finds the new ones).
 */
export function predictBox(
  current: number[],
  from: SeqFrame,
  to: SeqFrame,
  keys: Array<{ box: number[]; frame: SeqFrame }>,
): { box: number[]; velocity: [number, number] } {
  const before = keys.filter((k) => k.frame.t <= from.t).sort((a, b) => a.frame.t - b.frame.t);
  let velocity: [number, number] = [0, 0];
  if (before.length >= 2) {
    const [a, b] = before.slice(-2);
    const dt = b.frame.t - a.frame.t;
    if (dt > 0) {
      const [wa, wb] = [toWorld(a.box, a.frame.pose), toWorld(b.box, b.frame.pose)];
      velocity = [(wb[0] - wa[0]) / dt, (wb[1] - wa[1]) / dt];
    }
  }
  const world = toWorld(current, from.pose);
  const dt = to.t - from.t;
  world[0] += velocity[0] * dt;
  world[1] += velocity[1] * dt;
  return { box: toSensor(world, to.pose), velocity };
}

/**
 * What follows from an edit of the boxes in a sequence (`LabelState.normalise`): an
 * interpolated box the edit changed (moved, resized, turned, reclassified, given another track)
 * becomes a keyframe, then the interpolated boxes are worked out afresh. `before` maps box ids
 * to their JSON before the edit; boxes it does not know are left as they are.
 */
export function settleEdit(frames: SeqFrame[]): (boxes: BoxLabel[], before: Map<string, string>) => BoxLabel[] {
  return (boxes, before) => {
    for (const b of boxes) {
      const was = before.get(b.id);
      if (b.interpolated && was !== undefined && was !== JSON.stringify(b)) b.interpolated = false;
    }
    return interpolateTracks(boxes, frames);
  };
}
