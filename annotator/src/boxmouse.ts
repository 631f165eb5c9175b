// Editing boxes with the mouse: in the top view draw a box (drag on empty ground), pick one,
// move it (drag inside), resize a side (drag an edge; the opposite edge stays) or rotate it
// (Shift-drag); in the side and front views move it along that view and up or down, or resize
// its length, width or height. A drag previews live and lands as one undo step on release.
import type { BoxLabel } from "./api/client";
import type { Views } from "./scene";
import { dragInSlice, sliceFrame, toBoxFrame, wrapAngle, type LabelState, type SliceView } from "./state";
import { $ } from "./workbench";

/** a drawn box smaller than this (metres, either side) is a click, not a box */
const MIN_DRAWN_M = 0.3;
/** default height of a drawn box (auto-fit finds the real one) */
const DRAWN_HEIGHT_M = 1.6;
/** pixels from an edge of the selected box that grab the edge */
const EDGE_PX = 7;

type SliceGrab = { kind: "move" } | { kind: "along" | "height"; side: 1 | -1 };

type Drag =
  | { kind: "draw"; x0: number; y0: number; x1: number; y1: number }
  | { kind: "move"; x0: number; y0: number; start: number[] }
  | { kind: "rotate"; start: number[]; angle0: number }
  | { kind: "resize"; axis: 0 | 1; side: 1 | -1; start: number[] }
  | { kind: "slice"; view: SliceView; grab: SliceGrab; start: number[]; a0: number; b0: number };

/** What the box mouse edits: the labelling view implements it. */
export interface BoxMouseHost {
  readonly state: LabelState;
  readonly views: Views;
  readonly points: Float32Array;
  readonly frameId: string;
  readonly classes: string[];
  pickAt(x: number, y: number): boolean;
  redraw(): void;
}

export class BoxMouse {
  private drag: Drag | null = null;
  private dragBefore: string | null = null;

  constructor(
    private readonly host: BoxMouseHost,
    /** draw the box being drawn over the others */
    private readonly preview: (drawn: BoxLabel) => void,
  ) {}

  /** Whether a drag is under way (its edits are not saved until it ends). */
  get dragging(): boolean {
    return this.drag !== null;
  }

  /** Metres right of and above the followed box's centre under a pointer in a slice view. */
  private sliceMetres(event: PointerEvent, view: SliceView, box: number[]): [number, number] {
    const rect = $(`${view}-area`).getBoundingClientRect();
    const { half } = sliceFrame(box, view);
    const scale = half / (rect.height / 2); // metres per pixel
    return [
      (event.clientX - rect.left - rect.width / 2) * scale,
      (rect.top + rect.height / 2 - event.clientY) * scale,
    ];
  }

  /** A press in the side or front view: move the selected box (inside), resize it (an edge). */
  sliceDown(event: PointerEvent, view: SliceView): void {
    const selected = this.host.state.selectedLabel();
    const box = this.host.views.followed;
    if (event.button !== 0 || !selected || !box) return;
    const [a, b] = this.sliceMetres(event, view, box);
    const { along, half } = sliceFrame(box, view);
    const grab = (EDGE_PX * 2 * half) / $(`${view}-area`).getBoundingClientRect().height;
    const [ha, hb] = [along / 2, box[5] / 2];
    if (Math.abs(a) > ha + grab || Math.abs(b) > hb + grab) return;
    let how: SliceGrab = { kind: "move" };
    if (Math.abs(Math.abs(a) - ha) <= grab && Math.abs(b) <= hb) how = { kind: "along", side: a > 0 ? 1 : -1 };
    else if (Math.abs(Math.abs(b) - hb) <= grab && Math.abs(a) <= ha) how = { kind: "height", side: b > 0 ? 1 : -1 };
    this.dragBefore = JSON.stringify(this.host.state.boxes);
    this.drag = { kind: "slice", view, grab: how, start: [...box], a0: a, b0: b };
    event.preventDefault();
  }

  /** A press in the top view: grab the selected box (move, resize, Shift: rotate), pick
   * another, or start drawing a new one. */
  topDown(event: PointerEvent): void {
    if (event.button !== 0) return;
    const [x, y] = this.host.views.topToWorld(event.clientX, event.clientY);
    const selected = this.host.state.selectedLabel();
    const grab = this.host.views.topMetresPerPixel * EDGE_PX;
    this.dragBefore = JSON.stringify(this.host.state.boxes);
    if (selected) {
      const b = selected.box;
      const [u, v] = toBoxFrame(b, x, y);
      const inside = Math.abs(u) <= b[3] / 2 + grab && Math.abs(v) <= b[4] / 2 + grab;
      if (inside && event.shiftKey) {
        this.drag = { kind: "rotate", start: [...b], angle0: Math.atan2(y - b[1], x - b[0]) };
        return;
      }
      if (inside && Math.abs(Math.abs(u) - b[3] / 2) <= grab && Math.abs(v) <= b[4] / 2) {
        this.drag = { kind: "resize", axis: 0, side: u > 0 ? 1 : -1, start: [...b] };
        return;
      }
      if (inside && Math.abs(Math.abs(v) - b[4] / 2) <= grab && Math.abs(u) <= b[3] / 2) {
        this.drag = { kind: "resize", axis: 1, side: v > 0 ? 1 : -1, start: [...b] };
        return;
      }
      if (inside) {
        this.drag = { kind: "move", x0: x, y0: y, start: [...b] };
        return;
      }
    }
    if (this.host.pickAt(x, y)) {
      const picked = this.host.state.selectedLabel();
      if (picked) this.drag = { kind: "move", x0: x, y0: y, start: [...picked.box] };
      return;
    }
    this.drag = { kind: "draw", x0: x, y0: y, x1: x, y1: y };
  }

  move(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag) return;
    const sel = this.host.state.selectedLabel();
    if (drag.kind === "slice") {
      if (!sel) return;
      const [a, b] = this.sliceMetres(event, drag.view, drag.start);
      sel.box = dragInSlice(drag.start, drag.view, drag.grab, drag.a0, drag.b0, a, b);
      this.host.redraw();
      return;
    }
    const [x, y] = this.host.views.topToWorld(event.clientX, event.clientY);
    if (drag.kind === "draw") {
      drag.x1 = x;
      drag.y1 = y;
      this.preview(this.drawnBox(drag, "preview"));
      return;
    }
    if (!sel) return;
    const s = drag.start;
    const box = [...s];
    if (drag.kind === "move") {
      box[0] = s[0] + (x - drag.x0);
      box[1] = s[1] + (y - drag.y0);
    } else if (drag.kind === "rotate") {
      box[6] = wrapAngle(s[6] + Math.atan2(y - s[1], x - s[0]) - drag.angle0);
    } else {
      const [u, v] = toBoxFrame(s, x, y);
      const along = drag.axis === 0 ? u : v;
      const half = s[3 + drag.axis] / 2;
      const fixed = -drag.side * half; // the opposite edge stays where it is
      const size = Math.max(0.1, Math.abs(along - fixed));
      const mid = fixed + (drag.side * size) / 2;
      const c = Math.cos(s[6]);
      const sn = Math.sin(s[6]);
      box[3 + drag.axis] = size;
      box[0] = s[0] + (drag.axis === 0 ? c * mid : -sn * mid);
      box[1] = s[1] + (drag.axis === 0 ? sn * mid : c * mid);
    }
    sel.box = box; // live preview; committed as one undo step on release
    this.host.redraw();
  }

  up(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    const before = this.dragBefore;
    this.dragBefore = null;
    if (drag.kind === "draw") {
      const [x, y] = this.host.views.topToWorld(event.clientX, event.clientY);
      drag.x1 = x;
      drag.y1 = y;
      if (Math.abs(drag.x1 - drag.x0) < MIN_DRAWN_M || Math.abs(drag.y1 - drag.y0) < MIN_DRAWN_M) {
        this.host.redraw();
        return;
      }
      const ids = this.host.state.freshIds();
      const box = this.drawnBox(drag, ids.id);
      box.track_id = ids.track_id;
      this.host.state.edit((boxes) => boxes.push(box));
      this.host.state.select({ layer: "labels", id: box.id });
      return;
    }
    // turn the live preview into one undoable edit
    if (before !== null) {
      const after = this.host.state.boxes;
      this.host.state.boxes = JSON.parse(before) as BoxLabel[];
      this.host.state.edit((boxes) => {
        boxes.splice(0, boxes.length, ...after);
      });
    }
  }

  /** The box a top-view drag outlines: axis-aligned, bottom on the lowest point inside it. */
  private drawnBox(drag: { x0: number; y0: number; x1: number; y1: number }, id: string): BoxLabel {
    const [xa, xb] = [Math.min(drag.x0, drag.x1), Math.max(drag.x0, drag.x1)];
    const [ya, yb] = [Math.min(drag.y0, drag.y1), Math.max(drag.y0, drag.y1)];
    let zmin = Infinity;
    const p = this.host.points;
    for (let i = 0; i < p.length; i += 4) {
      if (p[i] >= xa && p[i] <= xb && p[i + 1] >= ya && p[i + 1] <= yb && p[i + 2] < zmin) zmin = p[i + 2];
    }
    if (!Number.isFinite(zmin)) zmin = -1.73;
    return {
      id,
      frame_id: this.host.frameId,
      track_id: 0,
      class_name: this.host.classes[0] ?? "car",
      box: [(xa + xb) / 2, (ya + yb) / 2, zmin + DRAWN_HEIGHT_M / 2, xb - xa, yb - ya, DRAWN_HEIGHT_M, 0],
      attributes: {},
      score: null,
      interpolated: false,
    };
  }
}
