// What the labelling and the review view share: the task's frames (one shown at a time, picked
// on the frame strip) and their points in the views, the box layers, selection by click, the
// side panel lists, the help overlay and the lease renewal while the person works.
import { renew, releaseOnLeave, type BoxLabel, type Lease } from "./api/client";
import { decodeWords, type EncodedPoints } from "./pointcodec";
import { renderStrip } from "./framestrip";
import { loadFramePoints, prefetchNext } from "./prefetch";
import { COLOUR_MODES, Views, classColour, type BoxStyle } from "./scene";
import { sequenceFrames, type SeqFrame } from "./sequence";
import { MOUSE_HELP, SHORTCUTS, match, type Shortcut } from "./shortcuts";
import { LabelState, inFootprint } from "./state";

export const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
export { el };

/** Renew the lease this often at most (and at a third of its length if that is shorter). */
const RENEW_MS = 60_000;
/** Renew only while the person did something within this long. */
const ACTIVE_MS = 5 * 60_000;

/** A class of the per-point labels: its name, point id (the semantic id) and colour. */
export interface PointClass {
  name: string;
  id: number;
  colour: number;
}

/** colours of the "stuff" surfaces (objects take their box colour) */
const STUFF_COLOURS: Record<string, number> = {
  road: 0x8e7cc3,
  sidewalk: 0xc27ba0,
  curb: 0xd5a6bd,
  building: 0xb7b7b7,
  pole: 0xf6b26b,
  vegetation: 0x38761d,
  terrain: 0x9c7a4a,
  outlier: 0x660000,
};

export abstract class Workbench {
  readonly state = new LabelState();
  readonly views: Views;
  /** the frame being edited (the frame strip or < > change it) */
  frameId: string;
  /** the task's frames in time order, with their poses */
  readonly frames: SeqFrame[];
  /** the track the frame strip follows: the selected box's, kept across frames */
  followedTrack: number | null = null;
  points: Float32Array = new Float32Array(0);
  /** the frame's per-point label words (`semantic | instance << 16`; 0 unlabelled) */
  words: Uint32Array = new Uint32Array(0);
  /** whether the label set holds point labels of this frame (from the server or drawn here) */
  hasPointLabels = false;
  /** the label set's point labels of the task's other frames (this view edits one frame) */
  otherFramePoints: Record<string, EncodedPoints> = {};
  /** this frame's point labels as loaded (what is kept if the view does not edit them) */
  private loadedPoints: EncodedPoints | undefined;
  /** the points of the frames shown so far (float32 (N, 4), sensor frame) */
  private readonly pointCache = new Map<string, Float32Array>();
  private switching: Promise<void> | null = null;
  /** the frame a switch under way goes to */
  private pendingFrame: string | null = null;
  /** the pre-labels of the frame being edited, uncertain first */
  prelabels: BoxLabel[] = [];
  classes: string[];
  /** every class a point can take: the object classes (box colours) then the surfaces */
  readonly pointClasses: PointClass[];
  private renewTimer: number | undefined;
  private lastActivity = performance.now();
  private readonly abort = new AbortController();
  abstract readonly mode: "annotate" | "review";

  constructor(
    readonly lease: Lease,
    readonly onDone: () => void,
  ) {
    this.views = new Views($("view"), $("persp-area"), $("top-area"), $("side-area"), $("front-area"));
    this.frames = sequenceFrames(lease.frames);
    const ids = this.frames.map((f) => f.id);
    this.frameId = ids.includes(lease.key_frame_id) ? lease.key_frame_id : ids[ids.length - 1];
    this.state.frameId = this.frameId;
    this.state.showFrame = (id) => this.showFrame(id);
    this.framePrelabels();
    const doc = lease.ontology as { classes: Array<{ name: string; group: string; point_id: number }> };
    this.classes = doc.classes.filter((c) => c.group !== "stuff").map((c) => c.name);
    const stuff = doc.classes.filter((c) => c.group === "stuff");
    this.pointClasses = [
      ...doc.classes
        .filter((c) => c.group !== "stuff")
        .map((c, i) => ({ name: c.name, id: c.point_id, colour: classColour(i) })),
      ...stuff.map((c, i) => ({ name: c.name, id: c.point_id, colour: STUFF_COLOURS[c.name] ?? classColour(i + 3) })),
    ];
    this.state.onChange(() => this.redraw());
  }

  /** The pre-labels of the frame being edited, uncertain ones (lowest model score) first. */
  private framePrelabels(): void {
    const all = (this.lease.prelabels?.labels.boxes ?? []) as BoxLabel[];
    this.prelabels = all.filter((b) => b.frame_id === this.frameId).sort((a, b) => (a.score ?? 1) - (b.score ?? 1));
  }

  /** The points of a frame (fetched once; coarse level first to `onCoarse`, or from the
   * prefetch when it was fetched ahead). */
  private async pointsOf(
    frameId: string,
    onCoarse?: (coarse: Float32Array) => void,
  ): Promise<Float32Array> {
    const cached = this.pointCache.get(frameId);
    if (cached) return cached;
    const points = await loadFramePoints(this.lease.assignment_id, frameId, onCoarse);
    this.pointCache.set(frameId, points);
    return points;
  }

  /** Every frame's point labels as they stand (the labelling view encodes its edits). */
  protected async pointLabelsOfEveryFrame(): Promise<Record<string, EncodedPoints>> {
    return this.loadedPoints ? { ...this.otherFramePoints, [this.frameId]: this.loadedPoints } : { ...this.otherFramePoints };
  }

  /** Edit another frame of the task: its points, point labels, pre-labels and boxes; the box
   * of the followed track on it is selected. Resolves once it is on screen. */
  showFrame(frameId: string): Promise<void> {
    if (this.switching) return this.switching.then(() => this.showFrame(frameId));
    if (frameId === this.frameId || !this.frames.some((f) => f.id === frameId)) return Promise.resolve();
    this.pendingFrame = frameId;
    this.switching = (async () => {
      const points = await this.pointsOf(frameId);
      const labels = await this.pointLabelsOfEveryFrame();
      const words = await this.decodedWords(labels[frameId], points.length / 4);
      // from here on nothing waits: a save never sees one frame's words under another's id
      const track = this.followedTrack;
      this.frameId = frameId;
      this.points = points;
      this.views.setPoints(points);
      this.framePrelabels();
      this.takePointLabels(labels, words);
      this.state.setFrame(frameId);
      const same = track === null ? undefined : this.state.boxes.find((b) => b.track_id === track);
      if (same) this.state.select({ layer: "labels", id: same.id });
      this.frameShown();
      this.showTaskLine();
      document.body.dataset.frame = frameId; // the frame on screen, for tests
    })().finally(() => {
      this.switching = null;
      this.pendingFrame = null;
    });
    return this.switching;
  }

  /** Another frame is on screen (the labelling view reloads its point tools' data). */
  protected frameShown(): void {}

  /** Step `step` frames along the sequence (clamped at its ends). */
  stepFrame(step: number): Promise<void> {
    // from the frame on its way (two quick presses step twice)
    const at = this.frames.findIndex((f) => f.id === (this.pendingFrame ?? this.frameId));
    const next = this.frames[Math.min(this.frames.length - 1, Math.max(0, at + step))];
    return this.showFrame(next.id);
  }

  private showTaskLine(): void {
    const frame = this.lease.frames.find((f) => f.id === this.frameId);
    const at = this.frames.findIndex((f) => f.id === this.frameId);
    const position = this.frames.length > 1 ? ` ${at + 1}/${this.frames.length}` : "";
    $("task").textContent =
      `task ${this.lease.task_id} · ${this.mode === "annotate" ? "labelling" : "review"}` +
      ` round ${this.lease.round} · frame${position} ${this.frameId.slice(0, 8)} · ${frame?.num_points ?? 0} points`;
  }

  /** Load the frame, draw everything, start listening. */
  async open(): Promise<void> {
    this.showTaskLine();
    const started = performance.now();
    // the coarse level is drawn while the rest streams in; fetched ahead: no wait at all
    this.points = await this.pointsOf(this.frameId, (coarse) =>
      this.views.setPoints(coarse, "coarse"),
    );
    this.views.setPoints(this.points);
    this.views.setLabelColours(new Map(this.pointClasses.map((c) => [c.id, c.colour])));
    await this.loadPointLabels(this.lease.working?.labels);
    document.body.dataset.loadMs = String(Math.round(performance.now() - started));
    this.listen();
    this.scheduleRenew();
    this.renderHelp();
    this.redraw();
    document.body.dataset.frame = this.frameId;
    document.body.dataset.ready = "1";
    void prefetchNext(this.lease.assignment_id);
  }

  /** Take the frame's point labels from a label set's JSON `labels` (none: all unlabelled);
   * the other frames' point labels are kept as they are, to be saved back unchanged. */
  async loadPointLabels(labels: Record<string, unknown> | undefined): Promise<void> {
    const all = { ...((labels?.points ?? {}) as Record<string, EncodedPoints>) };
    this.takePointLabels(all, await this.decodedWords(all[this.frameId], this.points.length / 4));
  }

  /** A frame's label words from their encoded form (none, or unreadable: all unlabelled). */
  private async decodedWords(encoded: EncodedPoints | undefined, n: number): Promise<Uint32Array> {
    try {
      return encoded ? await decodeWords(encoded, n) : new Uint32Array(n);
    } catch (err) {
      this.flash(`the point labels could not be read: ${String(err)}`, true);
      return new Uint32Array(n);
    }
  }

  /** Take `words` as this frame's point labels and keep every frame's encoded ones in `all`
   * (this frame's as loaded, the others' to be saved back as they are). */
  private takePointLabels(all: Record<string, EncodedPoints>, words: Uint32Array): void {
    const others = { ...all };
    const encoded = others[this.frameId];
    delete others[this.frameId];
    this.otherFramePoints = others;
    this.loadedPoints = encoded;
    this.hasPointLabels = encoded !== undefined;
    this.words = words;
    this.pointLabelsChanged();
  }

  /** The point labels changed: show them (and let subclasses count them). */
  pointLabelsChanged(): void {
    this.views.setLabels(this.words);
  }

  close(): void {
    this.views.followBox(null);
    window.clearTimeout(this.renewTimer);
    this.abort.abort();
    document.body.dataset.ready = "";
  }

  /** Give the lease back (saved work stays) and close. */
  async leave(): Promise<void> {
    releaseOnLeave(this.lease.assignment_id);
    this.close();
  }

  private scheduleRenew(): void {
    const expires = this.lease.lease_expires_at ? Date.parse(this.lease.lease_expires_at) : NaN;
    const left = Number.isFinite(expires) ? expires - Date.now() : RENEW_MS * 3;
    const wait = Math.max(5_000, Math.min(RENEW_MS, left / 3));
    this.renewTimer = window.setTimeout(() => void this.renewNow(), wait);
  }

  private async renewNow(): Promise<void> {
    if (performance.now() - this.lastActivity < ACTIVE_MS) {
      try {
        const renewed = await renew(this.lease.assignment_id);
        this.lease.lease_expires_at = renewed.lease_expires_at;
        document.body.dataset.renewed = String(Number(document.body.dataset.renewed ?? 0) + 1);
      } catch (err) {
        this.flash(`the lease could not be renewed: ${String(err)}`, true);
        return;
      }
    }
    this.scheduleRenew();
  }

  /** Box layers to draw, each with its style. */
  protected abstract layers(): Array<{ box: BoxLabel; style: BoxStyle }>;
  /** Fill the side panel. */
  protected abstract panel(): void;
  /** Run a shortcut's action (the shared ones are handled here first). */
  protected abstract act(shortcut: Shortcut, index: number, event: KeyboardEvent): void;

  redraw(): void {
    this.views.setBoxes(this.layers());
    const selected = this.selectedBox();
    // the top view follows the selection, but not while a drag in it is under way (it would
    // move the ground under the mouse)
    // (nor the side and front views: a drag there is measured against the box as it started)
    if (selected && !this.dragging()) this.views.follow(selected.box[0], selected.box[1]);
    if (!this.dragging()) this.views.followBox(selected ? selected.box : null);
    if (selected && this.state.selection?.layer === "labels") this.followedTrack = selected.track_id;
    renderStrip(
      $("frame-strip"),
      { frames: this.frames, current: this.frameId, keyFrame: this.lease.key_frame_id, boxes: this.state.all(), track: this.followedTrack },
      (id) => void this.showFrame(id),
    );
    this.panel();
  }

  setColourMode(mode: (typeof COLOUR_MODES)[number]): void {
    this.views.setColourMode(mode);
    $("colour-mode").textContent = mode;
  }

  /** Stop a drawing gesture under way (a polygon being clicked); whether there was one. */
  protected cancelGesture(): boolean {
    return false;
  }

  /** Whether a mouse drag in the top view is under way. */
  protected dragging(): boolean {
    return false;
  }

  selectedBox(): BoxLabel | undefined {
    const sel = this.state.selection;
    if (!sel) return undefined;
    return sel.layer === "labels"
      ? this.state.byId(sel.id)
      : this.prelabels.find((b) => b.id === sel.id);
  }

  /** The boxes that can be picked, in picking order. */
  protected pickable(): Array<{ layer: "labels" | "prelabels"; box: BoxLabel }> {
    return [
      ...this.state.boxes.map((box) => ({ layer: "labels" as const, box })),
      ...this.prelabels.map((box) => ({ layer: "prelabels" as const, box })),
    ];
  }

  /** Select the box under a top-view position (the smallest one there), or nothing. */
  pickAt(x: number, y: number): boolean {
    const hits = this.pickable().filter((p) => inFootprint(p.box.box, x, y));
    hits.sort((a, b) => a.box.box[3] * a.box.box[4] - b.box.box[3] * b.box.box[4]);
    const hit = hits[0];
    this.state.select(hit ? { layer: hit.layer, id: hit.box.id } : null);
    return hit !== undefined;
  }

  cycle(step: number): void {
    const all = this.pickable();
    if (all.length === 0) return;
    const sel = this.state.selection;
    const at = sel ? all.findIndex((p) => p.layer === sel.layer && p.box.id === sel.id) : -1;
    const next = all[(at + step + all.length) % all.length];
    this.state.select({ layer: next.layer, id: next.box.id });
  }

  flash(message: string, error = false): void {
    const banner = $("flash");
    banner.textContent = message;
    banner.className = error ? "error" : "";
    banner.hidden = message === "";
  }

  private renderHelp(): void {
    const rows = SHORTCUTS.filter((s) => !s.mode || s.mode === this.mode).map((s) =>
      el("tr", {}, el("td", {}, s.keys.map(keyName).join(" ")), el("td", {}, s.help)),
    );
    const mouse = MOUSE_HELP.map(([what, does]) =>
      el("tr", {}, el("td", {}, what), el("td", {}, does)),
    );
    $("help-table").replaceChildren(...rows, ...mouse);
  }

  private listen(): void {
    const signal = this.abort.signal;
    window.addEventListener(
      "keydown",
      (event) => {
        this.lastActivity = performance.now();
        const target = event.target as HTMLElement;
        if (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
        const found = match(event, this.mode);
        if (!found) return;
        event.preventDefault();
        const { shortcut, index } = found;
        switch (shortcut.action) {
          case "help":
            $("help").hidden = !$("help").hidden;
            return;
          case "deselect":
            $("help").hidden = true;
            if (this.cancelGesture()) return;
            this.followedTrack = null;
            this.state.select(null);
            return;
          case "frame":
            void this.stepFrame(index === 0 ? -1 : 1);
            return;
          case "next":
            this.cycle(event.shiftKey ? -1 : 1);
            return;
          case "colour": {
            const at = COLOUR_MODES.indexOf(this.views.colourMode);
            this.setColourMode(COLOUR_MODES[(at + 1) % COLOUR_MODES.length]);
            return;
          }
          case "point-size":
            this.views.setPointSize(this.views.pointSize + (index === 0 ? 1 : -1));
            return;
          case "zoom-top":
            this.views.zoomTop(index === 0 ? 1.25 : 0.8);
            return;
        }
        this.act(shortcut, index, event);
      },
      { signal },
    );
    const top = $("top-area");
    top.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        this.views.zoomTop(event.deltaY > 0 ? 1.15 : 0.87);
      },
      { signal, passive: false },
    );
    for (const name of ["pointerdown", "pointermove"] as const) {
      window.addEventListener(name, () => (this.lastActivity = performance.now()), { signal });
    }
    this.listenTop(top, signal);
  }

  /** Mouse handling in the top view (selection here; editing in the labeller). */
  protected listenTop(top: HTMLElement, signal: AbortSignal): void {
    top.addEventListener(
      "pointerdown",
      (event) => {
        const [x, y] = this.views.topToWorld(event.clientX, event.clientY);
        this.pickAt(x, y);
      },
      { signal },
    );
  }
}

function keyName(key: string): string {
  const names: Record<string, string> = {
    ArrowUp: "↑",
    ArrowDown: "↓",
    ArrowLeft: "←",
    ArrowRight: "→",
    Escape: "Esc",
  };
  return names[key] ?? key;
}

export function classColourIndex(classes: string[], name: string): number {
  return Math.max(0, classes.indexOf(name));
}
