// The frame strip: the task's frames in time order, one cell each, showing which frame is being
// edited, which one the vehicle's trigger fired on (the key frame), where the followed track has
// keyframes and interpolated boxes, and how many keyframes of any track each frame holds. A
// click on a cell shows that frame. Tests read the same facts from the cells' data attributes.
import type { BoxLabel } from "./api/client";
import type { SeqFrame } from "./sequence";

export interface StripFacts {
  frames: SeqFrame[];
  current: string;
  keyFrame: string;
  /** every box of every frame */
  boxes: BoxLabel[];
  /** the track the person follows (the selected box's), if any */
  track: number | null;
}

/** What a frame holds of the followed track: a keyframe, an interpolated box or nothing. */
export function trackMark(boxes: BoxLabel[], frameId: string, track: number | null): "key" | "interpolated" | "" {
  if (track === null) return "";
  const mine = boxes.filter((b) => b.frame_id === frameId && b.track_id === track);
  if (mine.some((b) => !b.interpolated)) return "key";
  return mine.length ? "interpolated" : "";
}

/** Fill `strip` with one button per frame; `show` is called with the clicked frame's id. */
export function renderStrip(strip: HTMLElement, facts: StripFacts, show: (frameId: string) => void): void {
  strip.hidden = facts.frames.length < 2;
  if (strip.hidden) return;
  const t0 = facts.frames.find((f) => f.id === facts.keyFrame)?.t ?? facts.frames[0].t;
  const cells = facts.frames.map((frame, i) => {
    const keys = facts.boxes.filter((b) => b.frame_id === frame.id && !b.interpolated).length;
    const mark = trackMark(facts.boxes, frame.id, facts.track);
    const cell = document.createElement("button");
    cell.type = "button";
    cell.className = "frame";
    cell.classList.toggle("current", frame.id === facts.current);
    cell.classList.toggle("key-frame", frame.id === facts.keyFrame);
    cell.dataset.frameId = frame.id;
    cell.dataset.keyframes = String(keys);
    cell.dataset.track = mark;
    const offset = frame.t - t0;
    cell.title =
      `frame ${i + 1} · ${offset >= 0 ? "+" : ""}${offset.toFixed(2)} s from the key frame · ` +
      `${keys} keyframe box${keys === 1 ? "" : "es"}` +
      (frame.id === facts.keyFrame ? " · key frame (the trigger fired here)" : "") +
      (mark ? ` · track ${facts.track}: ${mark === "key" ? "keyframe" : "interpolated"}` : "");
    const dot = document.createElement("span");
    dot.className = `track ${mark}`;
    const count = document.createElement("span");
    count.className = "keys";
    count.textContent = keys ? `◆${keys}` : "";
    cell.append(String(i + 1), dot, count);
    cell.onclick = () => {
      cell.blur(); // keys go back to the views
      show(frame.id);
    };
    return cell;
  });
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = "frames (< >)";
  strip.replaceChildren(label, ...cells);
}
