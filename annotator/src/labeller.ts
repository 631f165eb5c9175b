// The labelling view: draw, move, rotate, resize and classify boxes, auto-fit them, take or
// dismiss pre-labels, paint point classes (painter.ts), undo/redo, autosave (409: show the
// conflict, never overwrite), submit.
import { ApiError, autoFit, readTask, submit, type BoxLabel, type Lease } from "./api/client";
import { Painter, type PainterHost } from "./painter";
import { Saver } from "./saver";
import {
  PRELABEL_COLOUR,
  REJECTED_COLOUR,
  SELECTED_COLOUR,
  classColour,
  type BoxStyle,
} from "./scene";
import type { Shortcut } from "./shortcuts";
import { dragInSlice, sliceFrame, toBoxFrame, wrapAngle, type SliceView } from "./state";
import { $, Workbench, classColourIndex, el, pointsOf } from "./workbench";

const STEP_M = 0.1;
const STEP_YAW = (1 * Math.PI) / 180;
/** a drawn box smaller than this (metres, either side) is a click, not a box */
const MIN_DRAWN_M = 0.3;
/** default height of a drawn box (auto-fit finds the real one) */
const DRAWN_HEIGHT_M = 1.6;
/** pixels from an edge of the selected box that grab the edge */
const EDGE_PX = 7;
/** a box taken from a pre-label keeps its id behind this prefix (the provenance, in the id) */
const PRE = "pre-";

type Drag =
  | { kind: "draw"; x0: number; y0: number; x1: number; y1: number }
  | { kind: "move"; x0: number; y0: number; start: number[] }
  | { kind: "rotate"; start: number[]; angle0: number }
  | { kind: "resize"; axis: 0 | 1; side: 1 | -1; start: number[] }
  | { kind: "slice"; view: SliceView; grab: SliceGrab; start: number[]; a0: number; b0: number };

type SliceGrab = { kind: "move" } | { kind: "along" | "height"; side: 1 | -1 };

export class Labeller extends Workbench implements PainterHost {
  readonly mode = "annotate" as const;
  readonly saver: Saver;
  readonly painter: Painter;
  private dismissed: Set<string>;
  private drag: Drag | null = null;
  private dragBefore: string | null = null;

  constructor(lease: Lease, onDone: () => void) {
    super(lease, onDone);
    this.painter = new Painter(this, $<HTMLCanvasElement>("overlay"));
    this.saver = new Saver(lease.assignment_id, lease.working?.version ?? 0, async () => ({
      boxes: this.state.boxes,
      points: await this.painter.labels(),
    }));
    this.dismissed = new Set(
      JSON.parse(localStorage.getItem(this.dismissKey) ?? "[]") as string[],
    );
    this.state.reset((lease.working?.labels.boxes ?? []) as BoxLabel[]);
    this.state.onChange((changed) => {
      if (changed && this.drag === null) this.saver.touched();
    });
    this.saver.onChange(() => this.showSaveState());
    this.showSaveState();
  }

  get assignmentId(): number {
    return this.lease.assignment_id;
  }

  selectedLabel(): BoxLabel | undefined {
    return this.state.selectedLabel();
  }

  override pointLabelsChanged(): void {
    super.pointLabelsChanged();
    const count = this.painter.labelled;
    document.body.dataset.labelled = String(count);
    $("labelled-count").textContent = `${count} of ${this.words.length} points have a class`;
  }

  protected override cancelGesture(): boolean {
    return this.painter.cancel();
  }

  private get dismissKey(): string {
    return `longtail.dismissed.${this.lease.task_id}`;
  }

  override async open(): Promise<void> {
    await super.open();
    void this.painter.loadStructure();
    $("submit").onclick = () => void this.submitTask();
    $("conflict-load").onclick = () => void this.loadServerVersion();
    this.painter.bind();
  }

  override close(): void {
    this.painter.setTool("box");
    super.close();
    $("submit").onclick = null;
  }

  override async leave(): Promise<void> {
    await this.saver.save(true);
    await super.leave();
  }

  /** Pre-labels not yet taken into the labels and not dismissed. */
  private openPrelabels(): BoxLabel[] {
    const taken = new Set(
      this.state.boxes.filter((b) => b.id.startsWith(PRE)).map((b) => b.id.slice(PRE.length)),
    );
    return this.prelabels.filter((p) => !taken.has(p.id) && !this.dismissed.has(p.id));
  }

  protected override pickable(): Array<{ layer: "labels" | "prelabels"; box: BoxLabel }> {
    return [
      ...this.state.boxes.map((box) => ({ layer: "labels" as const, box })),
      ...this.openPrelabels().map((box) => ({ layer: "prelabels" as const, box })),
    ];
  }

  /** Reviewers' verdicts on this person's boxes in the latest review that returned the task. */
  private verdicts(): Map<string, { reasons: string[]; comment: string }> {
    const latest = [...this.lease.reviews].sort((a, b) => b.round - a.round)[0];
    const out = new Map<string, { reasons: string[]; comment: string }>();
    if (!latest || latest.decision !== "reject") return out;
    for (const v of latest.box_verdicts as Array<{ box_id: string; reasons: string[]; comment: string }>) {
      out.set(v.box_id, { reasons: v.reasons, comment: v.comment });
    }
    return out;
  }

  protected layers(): Array<{ box: BoxLabel; style: BoxStyle }> {
    const sel = this.state.selection;
    const rejected = this.verdicts();
    const labels = this.state.boxes.map((box) => ({
      box,
      style: {
        colour:
          sel?.layer === "labels" && sel.id === box.id
            ? SELECTED_COLOUR
            : rejected.has(box.id)
              ? REJECTED_COLOUR
              : classColour(classColourIndex(this.classes, box.class_name)),
        dashed: false,
      },
    }));
    const pre = this.openPrelabels().map((box) => ({
      box,
      style: {
        colour: sel?.layer === "prelabels" && sel.id === box.id ? SELECTED_COLOUR : PRELABEL_COLOUR,
        dashed: true,
      },
    }));
    return [...pre, ...labels];
  }

  protected panel(): void {
    const sel = this.state.selection;
    const current = this.state.selectedLabel()?.class_name;
    $("classes").replaceChildren(
      ...this.classes.map((name, i) =>
        el(
          "li",
          { className: name === current ? "current" : "", onclick: () => this.setClass(name) },
          el("kbd", {}, i < 9 ? String(i + 1) : "·"),
          ` ${name}`,
        ),
      ),
    );
    this.attributePanel();
    const rejected = this.verdicts();
    $("boxes").replaceChildren(
      ...this.state.boxes.map((b) => {
        const verdict = rejected.get(b.id);
        return el(
          "li",
          {
            className: `${sel?.layer === "labels" && sel.id === b.id ? "selected" : ""} ${verdict ? "rejected" : ""}`,
            onclick: () => this.state.select({ layer: "labels", id: b.id }),
          },
          `${b.id} · ${b.class_name} · ${b.box[3].toFixed(2)}×${b.box[4].toFixed(2)}×${b.box[5].toFixed(2)} m`,
          ...(verdict
            ? [el("div", { className: "verdict" }, `rejected: ${verdict.reasons.join(", ")}${verdict.comment ? ` — “${verdict.comment}”` : ""}`)]
            : []),
        );
      }),
    );
    $("prelabels").replaceChildren(
      ...this.openPrelabels().map((p) =>
        el(
          "li",
          {
            className: sel?.layer === "prelabels" && sel.id === p.id ? "selected" : "",
            onclick: () => this.state.select({ layer: "prelabels", id: p.id }),
          },
          `${p.class_name} · score ${(p.score ?? 0).toFixed(2)} `,
          el("button", { className: "accept", onclick: (e: Event) => { e.stopPropagation(); this.accept(p.id); } }, "accept"),
          el("button", { className: "dismiss", onclick: (e: Event) => { e.stopPropagation(); this.dismiss(p.id); } }, "delete"),
        ),
      ),
    );
    const reviews = [...this.lease.reviews].sort((a, b) => b.round - a.round);
    $("review-notes").replaceChildren(
      ...reviews.map((r) =>
        el(
          "li",
          {},
          `round ${r.round}: ${r.decision} by ${r.reviewer}`,
          r.reasons.length ? ` (${r.reasons.join(", ")})` : "",
          r.comment ? el("div", { className: "comment" }, `“${r.comment}”`) : "",
        ),
      ),
    );
    $("review-box").hidden = reviews.length === 0;
    this.painter.panel();
  }

  /** Track id and the ontology's attributes of the selected box, editable (undoable edits). */
  private attributePanel(): void {
    const chosen = this.state.selectedLabel();
    $("selected-box").hidden = chosen === undefined;
    if (!chosen) return;
    const doc = this.lease.ontology as { attributes?: Record<string, string[]> };
    const track = el("input", { type: "number", min: "0", id: "track-id", value: String(chosen.track_id) });
    track.onchange = () => {
      const value = Math.max(0, Math.floor(Number(track.value)) || 0);
      track.blur();
      this.state.editSelected((b) => void (b.track_id = value));
    };
    const selects = Object.entries(doc.attributes ?? {}).map(([name, values]) => {
      const select = el("select", { id: `attr-${name}` });
      select.replaceChildren(...values.map((v) => new Option(v, v)));
      select.value = chosen.attributes?.[name] ?? values[0];
      select.onchange = () => {
        const value = select.value;
        select.blur();
        this.state.editSelected((b) => void (b.attributes = { ...(b.attributes ?? {}), [name]: value }));
      };
      return el("label", {}, `${name} `, select);
    });
    $("attributes").replaceChildren(el("label", {}, "track id ", track), ...selects);
  }

  private showSaveState(): void {
    const s = this.saver;
    const text: Record<string, string> = {
      saved: `saved (v${s.version})`,
      unsaved: "unsaved changes…",
      saving: "saving…",
      conflict: "conflict: not saved",
      error: `not saved: ${s.lastError}`,
    };
    const badge = $("save-state");
    badge.textContent = text[s.state];
    badge.dataset.state = s.state;
    const conflict = s.conflict;
    $("conflict").hidden = conflict === null;
    if (conflict) {
      const mine = new Map(this.state.boxes.map((b) => [b.id, JSON.stringify(b)]));
      const theirs = new Map(conflict.serverBoxes.map((b) => [b.id, JSON.stringify(b)]));
      const changed = [...new Set([...mine.keys(), ...theirs.keys()])].filter(
        (id) => mine.get(id) !== theirs.get(id),
      );
      $("conflict-text").textContent =
        `The server has version ${conflict.server} of these labels (you started from ` +
        `v${conflict.mine}); your edits were NOT saved and nothing was overwritten. ` +
        `The server's version has ${conflict.serverBoxes.length} boxes; they differ from ` +
        `yours in: ${changed.join(", ") || "nothing"}.`;
    }
  }

  private async loadServerVersion(): Promise<void> {
    const fresh = await readTask(this.lease.assignment_id);
    this.state.reset((fresh.working?.labels.boxes ?? []) as BoxLabel[]);
    await this.loadPointLabels(pointsOf(fresh.working?.labels, this.frameId));
    this.painter.reloaded();
    this.saver.resolved(fresh.working?.version ?? 0);
  }

  private setClass(name: string): void {
    this.state.editSelected((b) => {
      b.class_name = name;
    });
  }

  private accept(id: string): void {
    const p = this.prelabels.find((b) => b.id === id);
    if (!p) return;
    const ids = { id: `${PRE}${p.id}`.slice(0, 64) };
    if (this.state.byId(ids.id)) return;
    this.state.edit((boxes) =>
      boxes.push({
        id: ids.id,
        frame_id: p.frame_id,
        track_id: p.track_id,
        class_name: p.class_name,
        box: [...p.box],
        attributes: { ...p.attributes },
        score: null,
      }),
    );
    this.state.select({ layer: "labels", id: ids.id });
  }

  private dismiss(id: string): void {
    this.dismissed.add(id);
    localStorage.setItem(this.dismissKey, JSON.stringify([...this.dismissed]));
    if (this.state.selection?.id === id) this.state.select(null);
    else this.redraw();
  }

  private async fit(): Promise<void> {
    const sel = this.state.selectedLabel();
    if (!sel) return;
    try {
      const fitted = await autoFit(this.lease.assignment_id, this.frameId, sel.box);
      this.state.editSelected((b) => {
        b.box = fitted.box;
      });
      this.flash(`auto-fit: ${fitted.num_points} points`);
    } catch (err) {
      this.flash(`auto-fit failed: ${err instanceof ApiError ? err.detail : String(err)}`, true);
    }
  }

  private async submitTask(): Promise<void> {
    await this.saver.save(false);
    if (this.saver.state !== "saved") {
      this.flash("not submitted: the labels are not saved", true);
      return;
    }
    try {
      await submit(this.lease.assignment_id, this.saver.version);
      this.flash(`task ${this.lease.task_id} submitted`);
      this.close();
      this.onDone();
    } catch (err) {
      this.flash(`not submitted: ${err instanceof ApiError ? err.detail : String(err)}`, true);
    }
  }

  protected act(shortcut: Shortcut, index: number, event: KeyboardEvent): void {
    if (this.painter.act(shortcut.action, index)) return;
    const big = event.shiftKey ? 10 : 1;
    const sign = index === 0 ? 1 : -1;
    const sizeStep = (axis: number) =>
      this.state.editSelected((b) => {
        b.box[axis] = Math.max(0.1, b.box[axis] + sign * STEP_M);
      });
    switch (shortcut.action) {
      case "move-x":
        return this.state.editSelected((b) => void (b.box[0] += sign * STEP_M * big));
      case "move-y":
        return this.state.editSelected((b) => void (b.box[1] += sign * STEP_M * big));
      case "move-z":
        return this.state.editSelected((b) => void (b.box[2] += sign * STEP_M));
      case "rotate":
        return this.state.editSelected((b) => void (b.box[6] = wrapAngle(b.box[6] + sign * STEP_YAW * big)));
      case "length":
        return sizeStep(3);
      case "width":
        return sizeStep(4);
      case "height":
        return sizeStep(5);
      case "class":
        if (this.painter.tool !== "box") this.painter.setClass(index);
        else if (index < this.classes.length) this.setClass(this.classes[index]);
        return;
      case "fit":
        void this.fit();
        return;
      case "accept":
        if (this.painter.finishPolygon()) return;
        if (this.state.selection?.layer === "prelabels") this.accept(this.state.selection.id);
        return;
      case "delete": {
        const sel = this.state.selection;
        if (sel?.layer === "prelabels") this.dismiss(sel.id);
        else if (sel) this.state.edit((boxes) => boxes.splice(boxes.findIndex((b) => b.id === sel.id), 1));
        return;
      }
      case "undo":
        return this.state.undo();
      case "redo":
        return this.state.redo();
      case "save":
        void this.saver.save(false);
        return;
    }
  }

  protected override dragging(): boolean {
    return this.drag !== null;
  }

  protected override listenTop(top: HTMLElement, signal: AbortSignal): void {
    const persp = $("persp-area");
    top.addEventListener("pointerdown", (event) => this.pointerDown(event), { signal });
    persp.addEventListener("pointerdown", (event) => this.painter.down(event, "persp"), { signal });
    window.addEventListener(
      "pointermove",
      (event) => {
        const over = event.target === top ? "top" : event.target === persp ? "persp" : null;
        if (this.painter.tool !== "box") this.painter.move(event, over);
        this.pointerMove(event);
      },
      { signal },
    );
    window.addEventListener(
      "pointerup",
      (event) => {
        this.painter.up();
        this.pointerUp(event);
      },
      { signal },
    );
    for (const area of [top, persp]) {
      area.addEventListener("dblclick", () => this.painter.finishPolygon(), { signal });
    }
    for (const view of ["side", "front"] as const) {
      $(`${view}-area`).addEventListener("pointerdown", (event) => this.sliceDown(event, view), { signal });
    }
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
  private sliceDown(event: PointerEvent, view: SliceView): void {
    const selected = this.state.selectedLabel();
    const box = this.views.followed;
    if (event.button !== 0 || !selected || !box) return;
    const [a, b] = this.sliceMetres(event, view, box);
    const { along, half } = sliceFrame(box, view);
    const grab = (EDGE_PX * 2 * half) / $(`${view}-area`).getBoundingClientRect().height;
    const [ha, hb] = [along / 2, box[5] / 2];
    if (Math.abs(a) > ha + grab || Math.abs(b) > hb + grab) return;
    let how: SliceGrab = { kind: "move" };
    if (Math.abs(Math.abs(a) - ha) <= grab && Math.abs(b) <= hb) how = { kind: "along", side: a > 0 ? 1 : -1 };
    else if (Math.abs(Math.abs(b) - hb) <= grab && Math.abs(a) <= ha) how = { kind: "height", side: b > 0 ? 1 : -1 };
    this.dragBefore = JSON.stringify(this.state.boxes);
    this.drag = { kind: "slice", view, grab: how, start: [...box], a0: a, b0: b };
    event.preventDefault();
  }

  private pointerDown(event: PointerEvent): void {
    if (this.painter.down(event, "top")) return;
    if (event.button !== 0) return;
    const [x, y] = this.views.topToWorld(event.clientX, event.clientY);
    const selected = this.state.selectedLabel();
    const grab = this.views.topMetresPerPixel * EDGE_PX;
    this.dragBefore = JSON.stringify(this.state.boxes);
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
    if (this.pickAt(x, y)) {
      const picked = this.state.selectedLabel();
      if (picked) this.drag = { kind: "move", x0: x, y0: y, start: [...picked.box] };
      return;
    }
    this.drag = { kind: "draw", x0: x, y0: y, x1: x, y1: y };
  }

  private pointerMove(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag) return;
    const sel = this.state.selectedLabel();
    if (drag.kind === "slice") {
      if (!sel) return;
      const [a, b] = this.sliceMetres(event, drag.view, drag.start);
      sel.box = dragInSlice(drag.start, drag.view, drag.grab, drag.a0, drag.b0, a, b);
      this.redraw();
      return;
    }
    const [x, y] = this.views.topToWorld(event.clientX, event.clientY);
    if (drag.kind === "draw") {
      drag.x1 = x;
      drag.y1 = y;
      this.views.setBoxes([...this.layers(), { box: this.drawnBox(drag, "preview"), style: { colour: SELECTED_COLOUR, dashed: true } }]);
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
    this.redraw();
  }

  private pointerUp(event: PointerEvent): void {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    const before = this.dragBefore;
    this.dragBefore = null;
    if (drag.kind === "draw") {
      const [x, y] = this.views.topToWorld(event.clientX, event.clientY);
      drag.x1 = x;
      drag.y1 = y;
      if (Math.abs(drag.x1 - drag.x0) < MIN_DRAWN_M || Math.abs(drag.y1 - drag.y0) < MIN_DRAWN_M) {
        this.redraw();
        return;
      }
      const ids = this.state.freshIds();
      const box = this.drawnBox(drag, ids.id);
      box.track_id = ids.track_id;
      this.state.edit((boxes) => boxes.push(box));
      this.state.select({ layer: "labels", id: box.id });
      return;
    }
    // turn the live preview into one undoable edit
    if (before !== null) {
      const after = this.state.boxes;
      this.state.boxes = JSON.parse(before) as BoxLabel[];
      this.state.edit((boxes) => {
        boxes.splice(0, boxes.length, ...after);
      });
    }
  }

  /** The box a top-view drag outlines: axis-aligned, bottom on the lowest point inside it. */
  private drawnBox(drag: { x0: number; y0: number; x1: number; y1: number }, id: string): BoxLabel {
    const [xa, xb] = [Math.min(drag.x0, drag.x1), Math.max(drag.x0, drag.x1)];
    const [ya, yb] = [Math.min(drag.y0, drag.y1), Math.max(drag.y0, drag.y1)];
    let zmin = Infinity;
    const p = this.points;
    for (let i = 0; i < p.length; i += 4) {
      if (p[i] >= xa && p[i] <= xb && p[i + 1] >= ya && p[i + 1] <= yb && p[i + 2] < zmin) zmin = p[i + 2];
    }
    if (!Number.isFinite(zmin)) zmin = -1.73;
    return {
      id,
      frame_id: this.frameId,
      track_id: 0,
      class_name: this.classes[0] ?? "car",
      box: [(xa + xb) / 2, (ya + yb) / 2, zmin + DRAWN_HEIGHT_M / 2, xb - xa, yb - ya, DRAWN_HEIGHT_M, 0],
      attributes: {},
      score: null,
    };
  }
}
