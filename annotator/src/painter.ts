// Point segmentation in the labelling view: brush, lasso and polygon in the top and the 3D
// view, a whole cluster by a click, the points inside the selected box, each giving the chosen
// class to the points that are shown and inside the height band. Every gesture is one undo
// step in the same history as the box edits. The pure selection maths is in segment.ts; the
// heights above ground, the clusters and the points inside a box come from the server.
import { MOUSE } from "three";
import { ApiError, frameStructure, pointsInside } from "./api/client";
import { encodeWords, type EncodedPoints } from "./pointcodec";
import {
  HEIGHT_BANDS,
  applyWord,
  diffWords,
  eligibleMask,
  labelWord,
  labelledCount,
  nearestPoint,
  projectPoints,
  replay,
  selectCluster,
  selectInPolygon,
  selectInStroke,
  selectIndices,
  type PointEdit,
} from "./segment";
import type { Views } from "./scene";
import type { LabelState } from "./state";
import type { BoxLabel } from "./api/client";
import { $, el, type PointClass } from "./workbench";

export type Tool = "box" | "brush" | "lasso" | "polygon" | "cluster";
export const TOOLS: Tool[] = ["box", "brush", "lasso", "polygon", "cluster"];
type View = "top" | "persp";

/** a click this close (pixels) to the polygon's first corner closes it */
const CLOSE_PX = 10;
/** the cluster tool picks the point nearest the click within this many pixels */
const PICK_PX = 10;
/** lasso corners closer than this (pixels) to the previous one are skipped */
const LASSO_STEP_PX = 3;

/** What the painter works on: the labelling view implements it. */
export interface PainterHost {
  readonly views: Views;
  readonly state: LabelState;
  readonly points: Float32Array;
  words: Uint32Array;
  hasPointLabels: boolean;
  readonly otherFramePoints: Record<string, EncodedPoints>;
  readonly pointClasses: PointClass[];
  readonly assignmentId: number;
  readonly frameId: string;
  selectedLabel(): BoxLabel | undefined;
  pointLabelsChanged(): void;
  flash(message: string, error?: boolean): void;
}

interface Stroke {
  view: View;
  rect: DOMRect;
  screen: Float32Array;
  eligible: Uint8Array;
  before: Uint32Array;
  lastX: number;
  lastY: number;
}

export class Painter {
  tool: Tool = "box";
  /** index into the host's point classes of the class the tools give */
  classIndex = 0;
  /** painting with "unlabelled" (the eraser) */
  erasing = false;
  band = 0;
  brushPx = 16;
  private heights: Float32Array | null = null;
  private clusters: Int32Array | null = null;
  private stroke: Stroke | null = null;
  /** lasso / polygon corners in the view's pixels */
  private path: { view: View; rect: DOMRect; corners: number[] } | null = null;
  private cursor: { view: View; x: number; y: number } | null = null;
  private encoded: { revision: number; value: EncodedPoints } | null = null;
  private revision = 0;
  /** the points a gesture selects (1), reused: sized on first use, when the frame is loaded */
  private picked = new Uint8Array(0);

  constructor(
    private readonly host: PainterHost,
    private readonly overlay: HTMLCanvasElement,
  ) {}

  /** The selection buffer, cleared. */
  private get selected(): Uint8Array {
    const n = this.host.words.length;
    if (this.picked.length !== n) this.picked = new Uint8Array(n);
    else this.picked.fill(0);
    return this.picked;
  }

  /** Wire the side panel's point controls (once the page shows the task). */
  bind(): void {
    $<HTMLSelectElement>("height-band").onchange = (e) =>
      this.setBand(Number((e.target as HTMLSelectElement).value));
    $<HTMLInputElement>("hide-labelled").onchange = () => this.toggleHidden();
    for (const tool of TOOLS) $(`tool-${tool}`).onclick = () => this.setTool(tool);
    this.panel();
  }

  private emit(): void {
    this.panel();
    this.draw();
  }

  /** The side panel: the tools, the class they give, the height band and what is hidden. */
  panel(): void {
    for (const tool of TOOLS) $(`tool-${tool}`).classList.toggle("current", this.tool === tool);
    const pointTool = this.tool !== "box";
    $("point-classes").replaceChildren(
      ...this.host.pointClasses.map((c, i) => {
        const swatch = el("span", { className: "swatch" });
        swatch.style.background = hex(c.colour);
        return el(
          "li",
          {
            className: pointTool && !this.erasing && i === this.classIndex ? "current" : "",
            onclick: () => this.setClass(i),
          },
          swatch,
          el("kbd", {}, i < 9 ? String(i + 1) : "·"),
          ` ${c.name}`,
        );
      }),
    );
    const band = $<HTMLSelectElement>("height-band");
    if (band.options.length !== HEIGHT_BANDS.length) {
      band.replaceChildren(...HEIGHT_BANDS.map((b, i) => new Option(b.name, String(i))));
    }
    band.value = String(this.band);
    $<HTMLInputElement>("hide-labelled").checked = this.host.views.hideLabelled;
    const brush = this.tool === "brush" ? ` ${this.brushPx} px` : "";
    $("paint-state").textContent = pointTool
      ? `${this.tool}${brush} → ${this.paintClass.name} · ${HEIGHT_BANDS[this.band].name}`
      : "box tool (b, o, p, u: point tools)";
    document.body.dataset.tool = this.tool;
  }

  /** Run a point tool's shortcut (shortcuts.ts); whether `action` was one. */
  act(action: string, index: number): boolean {
    if (action.startsWith("tool-")) this.setTool(action.slice(5) as Tool);
    else if (action === "fill-box") void this.fillBox();
    else if (action === "point-class") this.stepClass(index === 0 ? -1 : 1);
    else if (action === "eraser") this.setEraser();
    else if (action === "height-band") this.setBand(this.band + 1);
    else if (action === "hide-labelled") this.toggleHidden();
    else if (action === "brush-size") this.setBrush(this.brushPx * (index === 0 ? 0.8 : 1.25));
    else return false;
    return true;
  }

  /** Fetch the heights above ground and the clusters of the frame shown (in the background,
   * once per frame shown). */
  async loadStructure(): Promise<void> {
    try {
      const frameId = this.host.frameId;
      const found = await frameStructure(this.host.assignmentId, frameId);
      if (this.host.frameId !== frameId) return; // another frame was shown meanwhile
      this.heights = found.heights;
      this.clusters = found.clusters;
      document.body.dataset.structure = "1";
    } catch (err) {
      this.host.flash(`heights and clusters could not be loaded: ${String(err)}`, true);
    }
  }

  get paintClass(): PointClass {
    return this.erasing ? { name: "unlabelled", id: 0, colour: 0 } : this.host.pointClasses[this.classIndex];
  }

  setTool(tool: Tool): void {
    this.cancel();
    this.tool = tool;
    // left-drag in the 3D view paints with a point tool; orbit with the right button then
    const controls = this.host.views.controls;
    controls.mouseButtons.LEFT = tool === "box" ? MOUSE.ROTATE : null;
    controls.mouseButtons.RIGHT = tool === "box" ? MOUSE.PAN : MOUSE.ROTATE;
    if (tool !== "box" && this.host.views.colourMode !== "label") {
      this.host.views.setColourMode("label");
      $("colour-mode").textContent = "label";
    }
    this.emit();
  }

  setClass(index: number): void {
    if (index < 0 || index >= this.host.pointClasses.length) return;
    this.classIndex = index;
    this.erasing = false;
    this.emit();
  }

  stepClass(step: number): void {
    const n = this.host.pointClasses.length;
    this.setClass((this.classIndex + step + n) % n);
  }

  setEraser(): void {
    this.erasing = true;
    this.emit();
  }

  setBand(index: number): void {
    this.band = ((index % HEIGHT_BANDS.length) + HEIGHT_BANDS.length) % HEIGHT_BANDS.length;
    this.emit();
  }

  toggleHidden(): void {
    this.host.views.setHideLabelled(!this.host.views.hideLabelled);
    this.emit();
  }

  setBrush(px: number): void {
    this.brushPx = Math.min(120, Math.max(3, Math.round(px)));
    this.emit();
  }

  get labelled(): number {
    return labelledCount(this.host.words);
  }

  /** Stop a lasso, polygon or stroke under way; whether there was one. */
  cancel(): boolean {
    const busy = this.path !== null || this.stroke !== null;
    if (this.stroke) {
      this.host.words.set(this.stroke.before);
      this.host.pointLabelsChanged();
    }
    this.path = null;
    this.stroke = null;
    this.draw();
    return busy;
  }

  // -- the points the tools may touch, on screen -----------------------------------------

  private eligible(): Uint8Array | null {
    const band = HEIGHT_BANDS[this.band];
    const needsHeights = band.min !== -Infinity || band.max !== Infinity;
    if (needsHeights && !this.heights) {
      this.host.flash("the heights above ground are still loading", true);
      return null;
    }
    const out = new Uint8Array(this.host.words.length);
    eligibleMask(this.host.words, this.heights, band, this.host.views.hideLabelled, out);
    return out;
  }

  private project(view: View): { screen: Float32Array; rect: DOMRect } {
    this.host.views.render(); // the cameras as they are now
    const { matrix, rect } = this.host.views.viewOf(view);
    const screen = new Float32Array((this.host.points.length / 4) * 2);
    projectPoints(this.host.points, matrix, rect.width, rect.height, screen);
    return { screen, rect };
  }

  // -- pointer gestures --------------------------------------------------------------------

  /** A button went down in a view; returns whether the painter took it. */
  down(event: PointerEvent, view: View): boolean {
    if (this.tool === "box" || event.button !== 0) return false;
    event.preventDefault();
    const rect = (view === "top" ? this.host.views.topArea : this.host.views.perspArea).getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    if (this.tool === "brush") {
      const eligible = this.eligible();
      if (!eligible) return true;
      const { screen } = this.project(view);
      this.stroke = { view, rect, screen, eligible, before: this.host.words.slice(), lastX: x, lastY: y };
      this.brush(x, y);
    } else if (this.tool === "lasso") {
      this.path = { view, rect, corners: [x, y] };
    } else if (this.tool === "polygon") {
      if (!this.path || this.path.view !== view) this.path = { view, rect, corners: [] };
      const c = this.path.corners;
      if (c.length >= 6 && Math.hypot(x - c[0], y - c[1]) <= CLOSE_PX) this.finishPolygon();
      else c.push(x, y);
    } else if (this.tool === "cluster") {
      this.pickCluster(view, x, y);
    }
    this.draw();
    return true;
  }

  move(event: PointerEvent, view: View | null): void {
    const area = this.stroke?.view ?? this.path?.view ?? view;
    if (!area) {
      if (this.cursor) {
        this.cursor = null;
        this.draw();
      }
      return;
    }
    const rect = (area === "top" ? this.host.views.topArea : this.host.views.perspArea).getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    this.cursor = { view: area, x, y };
    if (this.stroke) {
      this.brush(x, y);
    } else if (this.path && this.tool === "lasso") {
      const c = this.path.corners;
      if (Math.hypot(x - c[c.length - 2], y - c[c.length - 1]) >= LASSO_STEP_PX) c.push(x, y);
    }
    this.draw();
  }

  up(): void {
    if (this.stroke) {
      const stroke = this.stroke;
      this.stroke = null;
      this.commit(diffWords(stroke.before, this.host.words), "brush");
    } else if (this.path && this.tool === "lasso") {
      const path = this.path;
      this.path = null;
      this.fillPolygon(path.view, path.corners, "lasso");
    }
    this.draw();
  }

  /** Close the polygon being clicked (double-click, Enter, or a click on its first corner). */
  finishPolygon(): boolean {
    const path = this.path;
    if (!path || this.tool !== "polygon") return false;
    this.path = null;
    if (path.corners.length >= 6) this.fillPolygon(path.view, path.corners, "polygon");
    this.draw();
    return true;
  }

  private brush(x: number, y: number): void {
    const s = this.stroke!;
    const selected = this.selected;
    selectInStroke(s.screen, s.lastX, s.lastY, x, y, this.brushPx, s.eligible, selected);
    s.lastX = x;
    s.lastY = y;
    if (applyWord(this.host.words, selected, labelWord(this.paintClass.id))) this.host.pointLabelsChanged();
  }

  private fillPolygon(view: View, corners: number[], what: string): void {
    const eligible = this.eligible();
    if (!eligible) return;
    const { screen } = this.project(view);
    const selected = this.selected;
    selectInPolygon(screen, corners, eligible, selected);
    this.commit(applyWord(this.host.words, selected, labelWord(this.paintClass.id)), what);
  }

  private pickCluster(view: View, x: number, y: number): void {
    const eligible = this.eligible();
    if (!eligible) return;
    if (!this.clusters) {
      this.host.flash("the clusters are still loading", true);
      return;
    }
    const { screen } = this.project(view);
    const hit = nearestPoint(screen, x, y, PICK_PX, eligible);
    const id = hit >= 0 ? this.clusters[hit] : -1;
    if (id < 0) {
      this.host.flash(hit < 0 ? "no point under the mouse" : "that point is ground or in no cluster", true);
      return;
    }
    const selected = this.selected;
    selectCluster(this.clusters, id, eligible, selected);
    this.commit(applyWord(this.host.words, selected, labelWord(this.paintClass.id)), "cluster");
  }

  /** Give the points inside the selected box its class (and its track id as the instance). */
  async fillBox(): Promise<void> {
    const box = this.host.selectedLabel();
    if (!box) {
      this.host.flash("select one of your boxes first", true);
      return;
    }
    const cls = this.host.pointClasses.find((c) => c.name === box.class_name);
    if (!cls) return;
    const eligible = this.eligible();
    if (!eligible) return;
    let inside: Uint32Array;
    try {
      inside = await pointsInside(this.host.assignmentId, this.host.frameId, box.box);
    } catch (err) {
      this.host.flash(`not filled: ${err instanceof ApiError ? err.detail : String(err)}`, true);
      return;
    }
    const selected = this.selected;
    selectIndices(inside, eligible, selected);
    this.commit(applyWord(this.host.words, selected, labelWord(cls.id, box.track_id)), `box ${box.id}`, cls.name);
  }

  /** Record an edit already applied to the words as one undo step. */
  private commit(edit: PointEdit | null, what: string, name = this.paintClass.name): void {
    if (!edit) {
      this.host.flash(`${what}: no point changed`);
      return;
    }
    const host = this.host;
    const refresh = () => {
      this.revision += 1;
      host.pointLabelsChanged();
    };
    host.hasPointLabels = true;
    refresh();
    host.state.record({
      undo: () => {
        replay(host.words, edit, false);
        refresh();
      },
      redo: () => {
        replay(host.words, edit, true);
        refresh();
      },
    });
    host.flash(`${what}: ${edit.indices.length} points → ${name}`);
  }

  /** The label set's point labels: this frame's words, gzip-encoded (cached per revision),
   * and the other frames' as the server sent them. */
  async labels(): Promise<Record<string, EncodedPoints>> {
    const others = this.host.otherFramePoints;
    if (!this.host.hasPointLabels) return { ...others };
    if (this.encoded?.revision !== this.revision) {
      const revision = this.revision;
      this.encoded = { revision, value: await encodeWords(this.host.words) };
    }
    return { ...others, [this.host.frameId]: this.encoded.value };
  }

  /** The words were replaced (the server's version loaded): forget the cached encoding. */
  reloaded(): void {
    this.revision += 1;
    this.cancel();
  }

  // -- what the gestures look like -----------------------------------------------------------

  draw(): void {
    const canvas = this.overlay;
    const stage = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(stage.width * ratio);
    const h = Math.round(stage.height * ratio);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, stage.width, stage.height);
    const colour = hex(this.erasing ? 0xffffff : this.paintClass.colour);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    const offset = (view: View) => {
      const r = (view === "top" ? this.host.views.topArea : this.host.views.perspArea).getBoundingClientRect();
      return [r.left - stage.left, r.top - stage.top];
    };
    if (this.path) {
      const [ox, oy] = offset(this.path.view);
      const c = this.path.corners;
      ctx.beginPath();
      for (let i = 0; i < c.length; i += 2) ctx.lineTo(ox + c[i], oy + c[i + 1]);
      if (this.tool === "polygon" && this.cursor) ctx.lineTo(ox + this.cursor.x, oy + this.cursor.y);
      if (this.tool === "lasso") ctx.closePath();
      ctx.stroke();
      if (this.tool === "polygon") {
        for (let i = 0; i < c.length; i += 2) ctx.strokeRect(ox + c[i] - 3, oy + c[i + 1] - 3, 6, 6);
      }
    }
    if (this.tool === "brush" && this.cursor) {
      const [ox, oy] = offset(this.cursor.view);
      ctx.beginPath();
      ctx.arc(ox + this.cursor.x, oy + this.cursor.y, this.brushPx, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }
}

function hex(colour: number): string {
  return `#${colour.toString(16).padStart(6, "0")}`;
}
