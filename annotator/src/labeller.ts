// The labelling view: draw, move, rotate, resize (boxmouse.ts) and classify boxes, auto-fit
// them, take or dismiss pre-labels, paint point classes (painter.ts), undo/redo, autosave (409:
// show the conflict, never overwrite), submit. In a sequence, boxes between keyframes are
// interpolated (sequence.ts) and drawn dashed; `n` propagates a box to the next frame.
import { ApiError, autoFit, readTask, submit, type BoxLabel, type Lease } from "./api/client";
import type { EncodedPoints } from "./pointcodec";
import { Painter, type PainterHost } from "./painter";
import { propagate } from "./propagate";
import { Saver } from "./saver";
import {
  PRELABEL_COLOUR,
  REJECTED_COLOUR,
  SELECTED_COLOUR,
  classColour,
  type BoxStyle,
} from "./scene";
import type { Shortcut } from "./shortcuts";
import { BoxMouse } from "./boxmouse";
import { PerspHeading } from "./perspmouse";
import { settleEdit } from "./sequence";
import { wrapAngle } from "./state";
import { $, Workbench, classColourIndex, el } from "./workbench";

const STEP_M = 0.1;
const STEP_YAW = (1 * Math.PI) / 180;
/** a box taken from a pre-label keeps its id behind this prefix (the provenance, in the id) */
const PRE = "pre-";

export class Labeller extends Workbench implements PainterHost {
  readonly mode = "annotate" as const;
  readonly saver: Saver;
  readonly painter: Painter;
  private dismissed: Set<string>;
  private readonly mouse: BoxMouse;
  private readonly heading = new PerspHeading(this);

  constructor(lease: Lease, onDone: () => void) {
    super(lease, onDone);
    this.painter = new Painter(this, $<HTMLCanvasElement>("overlay"));
    this.mouse = new BoxMouse(this, (drawn) =>
      this.views.setBoxes([...this.layers(), { box: drawn, style: { colour: SELECTED_COLOUR, dashed: true } }]),
    );
    this.saver = new Saver(lease.assignment_id, lease.working?.version ?? 0, async () => ({
      boxes: this.state.all(),
      points: await this.painter.labels(),
    }));
    this.dismissed = new Set(
      JSON.parse(localStorage.getItem(this.dismissKey) ?? "[]") as string[],
    );
    this.state.normalise = settleEdit(this.frames);
    this.state.reset((lease.working?.labels.boxes ?? []) as BoxLabel[]);
    this.state.onChange((changed) => {
      if (changed && !this.dragging()) this.saver.touched();
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

  protected override pointLabelsOfEveryFrame(): Promise<Record<string, EncodedPoints>> {
    return this.painter.labels();
  }

  protected override frameShown(): void {
    this.painter.reloaded();
    void this.painter.loadStructure();
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
        dashed: box.interpolated === true, // until edited: then it is a keyframe
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
            className: `${sel?.layer === "labels" && sel.id === b.id ? "selected" : ""} ${verdict ? "rejected" : ""} ${b.interpolated ? "interpolated" : ""}`,
            onclick: () => this.state.select({ layer: "labels", id: b.id }),
          },
          `${b.id} · ${b.class_name} · ${b.box[3].toFixed(2)}×${b.box[4].toFixed(2)}×${b.box[5].toFixed(2)} m` +
            (this.frames.length > 1 ? ` · track ${b.track_id}${b.interpolated ? " · interpolated" : ""}` : ""),
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
      const mine = new Map(this.state.all().map((b) => [b.id, JSON.stringify(b)]));
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
    await this.loadPointLabels(fresh.working?.labels);
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
        interpolated: false,
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
        void this.state.undo();
        return;
      case "redo":
        void this.state.redo();
        return;
      case "propagate":
        void propagate(this);
        return;
      case "save":
        void this.saver.save(false);
        return;
    }
  }

  protected override dragging(): boolean {
    return this.mouse.dragging || this.heading.dragging;
  }

  protected override listenTop(top: HTMLElement, signal: AbortSignal): void {
    const persp = $("persp-area");
    top.addEventListener(
      "pointerdown",
      (event) => {
        if (!this.painter.down(event, "top")) this.mouse.topDown(event);
      },
      { signal },
    );
    // Shift + drag on the selected box turns it; capture: before the camera's orbit controls
    persp.addEventListener(
      "pointerdown",
      (event) => {
        if (this.painter.tool === "box" && this.heading.down(event)) event.stopImmediatePropagation();
      },
      { signal, capture: true },
    );
    persp.addEventListener("pointerdown", (event) => this.painter.down(event, "persp"), { signal });
    window.addEventListener(
      "pointermove",
      (event) => {
        const over = event.target === top ? "top" : event.target === persp ? "persp" : null;
        if (this.painter.tool !== "box") this.painter.move(event, over);
        this.mouse.move(event);
        this.heading.move(event);
      },
      { signal },
    );
    window.addEventListener(
      "pointerup",
      (event) => {
        this.painter.up();
        this.mouse.up(event);
        this.heading.up();
      },
      { signal },
    );
    for (const area of [top, persp]) {
      area.addEventListener("dblclick", () => this.painter.finishPolygon(), { signal });
    }
    for (const view of ["side", "front"] as const) {
      $(`${view}-area`).addEventListener("pointerdown", (event) => this.mouse.sliceDown(event, view), { signal });
    }
  }
}
