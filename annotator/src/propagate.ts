// Propagation: the selected box goes to the next frame of the sequence, moved by its track's
// motion (sequence.ts: velocity from the track's last two keyframes, ego motion taken out by
// the frames' poses), then refit to that frame's points by the project's one auto-fit (the
// API's `fit`, the vehicle's L-shape fitter). The result is a keyframe of the track there, and
// the view moves to that frame.
import { ApiError, autoFit, type BoxLabel } from "./api/client";
import type { LabelState } from "./state";
import { keyframesOf, predictBox, type SeqFrame } from "./sequence";

/** What propagation works with: the labelling view implements it. */
export interface PropagateHost {
  readonly state: LabelState;
  readonly frames: SeqFrame[];
  readonly frameId: string;
  readonly assignmentId: number;
  showFrame(frameId: string): Promise<void>;
  flash(message: string, error?: boolean): void;
}

/** Propagate the selected box to the next frame (see the module comment). */
export async function propagate(host: PropagateHost): Promise<void> {
  const source = host.state.selectedLabel();
  if (!source) {
    host.flash("propagate: select a box of your labels first", true);
    return;
  }
  const at = host.frames.findIndex((f) => f.id === host.frameId);
  if (at < 0 || at + 1 >= host.frames.length) {
    host.flash("propagate: this is the last frame of the sequence", true);
    return;
  }
  const [from, to] = [host.frames[at], host.frames[at + 1]];
  const byId = new Map(host.frames.map((f) => [f.id, f]));
  const keys = keyframesOf(host.state.all(), source.track_id, host.frames).map((b) => ({
    box: b.box,
    frame: byId.get(b.frame_id) as SeqFrame,
  }));
  const predicted = predictBox(source.box, from, to, keys);
  let box = predicted.box;
  let how: string;
  try {
    const fitted = await autoFit(host.assignmentId, to.id, box);
    box = fitted.box;
    how = `refit to ${fitted.num_points} points`;
  } catch (err) {
    // no object points where the track should be (occluded, gone): keep the motion's guess
    how = `not refit (${err instanceof ApiError ? err.detail : String(err)})`;
  }
  await host.showFrame(to.id);
  const track = source.track_id;
  let id = host.state.boxes.find((b) => b.track_id === track)?.id;
  host.state.edit((boxes) => {
    const there = boxes.find((b) => b.id === id);
    if (there) {
      // the track already has a box here (interpolated or a keyframe): this replaces it
      Object.assign(there, { box, class_name: source.class_name, interpolated: false });
      return;
    }
    const added: BoxLabel = {
      ...structuredClone(source),
      id: host.state.freshIds().id,
      frame_id: to.id,
      box,
      score: null,
      interpolated: false,
    };
    id = added.id;
    boxes.push(added);
  });
  if (id !== undefined) host.state.select({ layer: "labels", id });
  const speed = Math.hypot(...predicted.velocity);
  host.flash(`propagated track ${track} to frame ${at + 2}: moved at ${speed.toFixed(1)} m/s, ${how}`);
}
