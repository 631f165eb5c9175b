// What the labelling and the review view share: the task's frame and its points in the two
// views, the box layers, selection by click, the side panel lists, the help overlay and the
// lease renewal while the person works.
import { framePoints, renew, releaseOnLeave, type BoxLabel, type Lease } from "./api/client";
import { COLOUR_MODES, Views, type BoxStyle } from "./scene";
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

export abstract class Workbench {
  readonly state = new LabelState();
  readonly views: Views;
  readonly frameId: string;
  points: Float32Array = new Float32Array(0);
  prelabels: BoxLabel[];
  classes: string[];
  private renewTimer: number | undefined;
  private lastActivity = performance.now();
  private readonly abort = new AbortController();
  abstract readonly mode: "annotate" | "review";

  constructor(
    readonly lease: Lease,
    readonly onDone: () => void,
  ) {
    this.views = new Views($("view"), $("persp-area"), $("top-area"), $("side-area"), $("front-area"));
    const prelabels = (lease.prelabels?.labels.boxes ?? []) as BoxLabel[];
    const frames = lease.frames.map((f) => f.id);
    const withBoxes = frames.find((f) => prelabels.some((b) => b.frame_id === f));
    this.frameId = withBoxes ?? frames[frames.length - 1];
    // uncertain pre-labels first (lowest model score)
    this.prelabels = prelabels
      .filter((b) => b.frame_id === this.frameId)
      .sort((a, b) => (a.score ?? 1) - (b.score ?? 1));
    const doc = lease.ontology as { classes: Array<{ name: string; group: string }> };
    this.classes = doc.classes.filter((c) => c.group !== "stuff").map((c) => c.name);
    this.state.onChange(() => this.redraw());
  }

  /** Load the frame, draw everything, start listening. */
  async open(): Promise<void> {
    const frame = this.lease.frames.find((f) => f.id === this.frameId);
    $("task").textContent =
      `task ${this.lease.task_id} · ${this.mode === "annotate" ? "labelling" : "review"}` +
      ` round ${this.lease.round} · frame ${this.frameId.slice(0, 8)} · ${frame?.num_points ?? 0} points`;
    const started = performance.now();
    this.points = await framePoints(this.lease.assignment_id, this.frameId);
    this.views.setPoints(this.points);
    document.body.dataset.loadMs = String(Math.round(performance.now() - started));
    this.listen();
    this.scheduleRenew();
    this.renderHelp();
    this.redraw();
    document.body.dataset.ready = "1";
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
    if (selected && !this.dragging()) this.views.follow(selected.box[0], selected.box[1]);
    this.views.followBox(selected ? selected.box : null);
    this.panel();
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
            this.state.select(null);
            return;
          case "next":
            this.cycle(event.shiftKey ? -1 : 1);
            return;
          case "colour": {
            const at = COLOUR_MODES.indexOf(this.views.colourMode);
            this.views.setColourMode(COLOUR_MODES[(at + 1) % COLOUR_MODES.length]);
            $("colour-mode").textContent = this.views.colourMode;
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
