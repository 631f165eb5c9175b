// The labels being edited: the person's boxes of every frame of the task, the selection, and one
// undo/redo history for every edit: box edits as snapshots, other edits (point labels) as
// entries that know how to undo and redo themselves. Boxes are [x, y, z, l, w, h, yaw] in their
// frame's sensor frame (metres, centre, yaw about +z). `boxes` are the boxes of the frame being
// edited (`frameId`; all of them while it is null), the rest wait in `others`.
import type { BoxLabel } from "./api/client";

export type Selection = { layer: "labels" | "prelabels"; id: string } | null;

/** An edit of something other than the boxes, in the same history as the box edits. */
export interface Undoable {
  undo(): void;
  redo(): void;
}

/** A history entry and the frame it was made on (undoing it shows that frame first). */
type Entry = ({ boxes: string } | { other: Undoable }) & { frame: string | null };

/** Work out what follows from an edit of the boxes (every frame's): `before` maps each box id
 * to its JSON before the edit. The sequence's interpolation runs here. */
export type Normalise = (boxes: BoxLabel[], before: Map<string, string>) => BoxLabel[];

export class LabelState {
  boxes: BoxLabel[] = [];
  selection: Selection = null;
  /** the frame being edited (null: one frame, every box is in `boxes`) */
  frameId: string | null = null;
  /** what follows from an edit (the labelling view sets it; none: boxes stay as edited) */
  normalise: Normalise | null = null;
  /** show a frame before undoing or redoing an edit made on it */
  showFrame: ((frameId: string) => Promise<void>) | null = null;
  private others: BoxLabel[] = [];
  private undoStack: Entry[] = [];
  private redoStack: Entry[] = [];
  private listeners: Array<(changed: boolean) => void> = [];

  /** Replace everything (a task opened, the server's version loaded): no undo across it. */
  reset(boxes: BoxLabel[]): void {
    const copy = asLabels(boxes);
    this.split(this.normalise ? this.normalise(copy, new Map()) : copy);
    this.selection = null;
    this.undoStack = [];
    this.redoStack = [];
    this.emit(false);
  }

  /** Every box of every frame (what is saved). */
  all(): BoxLabel[] {
    return [...this.others, ...this.boxes];
  }

  /** Edit another frame: its boxes become `boxes` (the selection is the caller's to set). */
  setFrame(frameId: string): void {
    this.frameId = frameId;
    this.split(this.all());
    this.selection = null;
    this.emit(false);
  }

  private split(all: BoxLabel[]): void {
    const here = (b: BoxLabel) => this.frameId === null || b.frame_id === this.frameId;
    this.boxes = all.filter(here);
    this.others = all.filter((b) => !here(b));
  }

  /** Notify on every change; `changed` is true when the labels (not just the selection) moved. */
  onChange(listener: (changed: boolean) => void): void {
    this.listeners.push(listener);
  }

  private emit(changed: boolean): void {
    for (const l of this.listeners) l(changed);
  }

  /** Apply one undoable edit to the boxes of the frame being edited. */
  edit(mutate: (boxes: BoxLabel[]) => void): void {
    const previous = this.all();
    const before = JSON.stringify(previous);
    const byId = new Map(previous.map((b) => [b.id, JSON.stringify(b)]));
    mutate(this.boxes);
    if (this.normalise) this.split(this.normalise(this.all(), byId));
    if (JSON.stringify(this.all()) === before) return;
    this.push({ boxes: before, frame: this.frameId });
    if (this.selection?.layer === "labels" && !this.byId(this.selection.id)) this.selection = null;
    this.emit(true);
  }

  /** Record an edit already made to something else than the boxes (it is undone with them). */
  record(edit: Undoable): void {
    this.push({ other: edit, frame: this.frameId });
    this.emit(true);
  }

  private push(entry: Entry): void {
    this.undoStack.push(entry);
    if (this.undoStack.length > 500) this.undoStack.shift();
    this.redoStack = [];
  }

  /** Apply `entry` (undo or redo), returning the entry that reverses it. */
  private swap(entry: Entry, forward: boolean): Entry {
    if ("other" in entry) {
      if (forward) entry.other.redo();
      else entry.other.undo();
      return entry;
    }
    const now = JSON.stringify(this.all());
    this.split(JSON.parse(entry.boxes) as BoxLabel[]);
    if (this.selection?.layer === "labels" && !this.byId(this.selection.id)) this.selection = null;
    return { boxes: now, frame: entry.frame };
  }

  /** Edit the selected box of the person's labels (nothing when a pre-label or none is selected). */
  editSelected(mutate: (box: BoxLabel) => void): void {
    const sel = this.selectedLabel();
    if (!sel) return;
    this.edit((boxes) => {
      const target = boxes.find((b) => b.id === sel.id);
      if (target) mutate(target);
    });
  }

  /** Undo the last edit (showing its frame first when it was made on another one). */
  undo(): Promise<void> {
    return this.step(this.undoStack, this.redoStack, false);
  }

  redo(): Promise<void> {
    return this.step(this.redoStack, this.undoStack, true);
  }

  private step(from: Entry[], to: Entry[], forward: boolean): Promise<void> {
    const entry = from[from.length - 1];
    if (entry === undefined) return Promise.resolve();
    if (entry.frame !== null && entry.frame !== this.frameId && this.showFrame) {
      const frame = entry.frame;
      return this.showFrame(frame).then(() => {
        if (this.frameId === frame && from[from.length - 1] === entry) return this.step(from, to, forward);
      });
    }
    from.pop();
    to.push(this.swap(entry, forward));
    this.emit(true);
    return Promise.resolve();
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  byId(id: string): BoxLabel | undefined {
    return this.boxes.find((b) => b.id === id);
  }

  selectedLabel(): BoxLabel | undefined {
    return this.selection?.layer === "labels" ? this.byId(this.selection.id) : undefined;
  }

  select(selection: Selection): void {
    this.selection = selection;
    this.emit(false);
  }

  /** A fresh box id and track id (the next free integers over every frame's boxes). */
  freshIds(): { id: string; track_id: number } {
    const all = this.all();
    let n = 1;
    const ids = new Set(all.map((b) => b.id));
    while (ids.has(`b${n}`)) n += 1;
    const track = Math.max(0, ...all.map((b) => b.track_id)) + 1;
    return { id: `b${n}`, track_id: track };
  }
}

/** Copies of a label set's boxes as the server sends them, with `interpolated` spelled out: the
 * server writes it only on interpolated boxes (absent: a keyframe, as in every label set written
 * before sequences). */
export function asLabels(boxes: unknown): BoxLabel[] {
  return (structuredClone(boxes ?? []) as BoxLabel[]).map((b) => ({ ...b, interpolated: b.interpolated === true }));
}

/** `angle` wrapped to (-pi, pi]. */
export function wrapAngle(angle: number): number {
  let a = angle % (2 * Math.PI);
  if (a <= -Math.PI) a += 2 * Math.PI;
  if (a > Math.PI) a -= 2 * Math.PI;
  return a;
}

/** (u, v): the point (x, y) in the box's frame (u along the heading, v to its left), metres. */
export function toBoxFrame(box: number[], x: number, y: number): [number, number] {
  const c = Math.cos(box[6]);
  const s = Math.sin(box[6]);
  const dx = x - box[0];
  const dy = y - box[1];
  return [c * dx + s * dy, -s * dx + c * dy];
}

/** Whether (x, y) lies in the box's footprint grown by `margin` metres. */
export function inFootprint(box: number[], x: number, y: number, margin = 0): boolean {
  const [u, v] = toBoxFrame(box, x, y);
  return Math.abs(u) <= box[3] / 2 + margin && Math.abs(v) <= box[4] / 2 + margin;
}

/** The side view looks at a box from its right (heading to the right of the screen), the front
 * view from ahead of it (the box's left to the right of the screen); both with +z up. */
export type SliceView = "side" | "front";

/** The slice of `box` in `view`: the screen-right axis (unit, sensor x-y), the box's extent
 * along it and the half height of the view (metres) that the slice cameras show. */
export function sliceFrame(box: number[], view: SliceView): { right: [number, number]; along: number; half: number } {
  const c = Math.cos(box[6]);
  const s = Math.sin(box[6]);
  return {
    right: view === "side" ? [c, s] : [-s, c],
    along: view === "side" ? box[3] : box[4],
    half: Math.max(box[3], box[4], box[5]) * 0.7 + 0.5,
  };
}

/**
 * A box dragged in a side or front view: from `start`, the pointer moved from (a0, b0) to
 * (a, b), metres right of and above the start box's centre in that view. `grab` says what
 * the press took: the inside (move), a vertical edge (1: the right one, -1: the left one;
 * resize along the view's axis, the opposite edge stays) or a horizontal edge (resize the
 * height, the opposite edge stays). Sizes stay at least 0.1 m.
 */
export function dragInSlice(
  start: number[],
  view: SliceView,
  grab: { kind: "move" } | { kind: "along" | "height"; side: 1 | -1 },
  a0: number,
  b0: number,
  a: number,
  b: number,
): number[] {
  const box = [...start];
  const { right, along } = sliceFrame(start, view);
  const sizeAxis = view === "side" ? 3 : 4;
  if (grab.kind === "move") {
    box[0] += right[0] * (a - a0);
    box[1] += right[1] * (a - a0);
    box[2] += b - b0;
  } else if (grab.kind === "along") {
    const fixed = (-grab.side * along) / 2;
    const size = Math.max(0.1, Math.abs(a - fixed));
    const mid = fixed + (grab.side * size) / 2;
    box[sizeAxis] = size;
    box[0] += right[0] * mid;
    box[1] += right[1] * mid;
  } else {
    const fixed = (-grab.side * start[5]) / 2;
    const size = Math.max(0.1, Math.abs(b - fixed));
    box[5] = size;
    box[2] += fixed + (grab.side * size) / 2;
  }
  return box;
}
