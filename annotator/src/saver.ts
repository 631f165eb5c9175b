// Autosave with a visible state. Every save names the version it started from; a 409 (someone
// or something saved a newer version) stops autosaving and shows what the server holds: the
// person's edits are never written over the server's version, and nothing is overwritten
// silently. They choose: load the server's version (theirs is dropped) or keep looking.
import { ApiError, readTask, saveLabels, type BoxLabel, type Labels } from "./api/client";
import { asLabels } from "./state";

export type SaveState = "saved" | "unsaved" | "saving" | "conflict" | "error";

export interface Conflict {
  mine: number;
  server: number;
  serverBoxes: BoxLabel[];
  detail: string;
}

export class Saver {
  state: SaveState = "saved";
  conflict: Conflict | null = null;
  lastError = "";
  private timer: number | undefined;
  private inFlight: Promise<void> | null = null;
  /** edits seen so far: one made while a save is in flight needs another save */
  private edits = 0;
  private listeners: Array<(s: Saver) => void> = [];

  constructor(
    readonly assignmentId: number,
    public version: number,
    private readonly labels: () => Promise<Labels>,
    readonly delayMs = 1500,
  ) {}

  onChange(listener: (s: Saver) => void): void {
    this.listeners.push(listener);
  }

  private set(state: SaveState): void {
    this.state = state;
    for (const l of this.listeners) l(this);
  }

  /** The labels changed: save after a short quiet period (unless a conflict is open). */
  touched(): void {
    if (this.state === "conflict") return;
    this.edits += 1;
    this.set("unsaved");
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.save(true), this.delayMs);
  }

  /** Save now (`draft` false for an explicit Ctrl+S). Resolves when the save settled. */
  async save(draft: boolean): Promise<void> {
    window.clearTimeout(this.timer);
    if (this.state === "conflict") return;
    if (this.inFlight) await this.inFlight;
    if (this.state === "saved" && draft) return;
    this.inFlight = this.send(draft);
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  private async send(draft: boolean): Promise<void> {
    this.set("saving");
    const edits = this.edits;
    try {
      const body = await this.labels();
      const saved = await saveLabels(this.assignmentId, this.version, body, draft);
      this.version = saved.version;
      // edits made while the labels were encoded or the request was in flight need a save
      if (this.edits !== edits) this.touched();
      else this.set("saved");
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && hasCurrentVersion(err.body)) {
        const server = await readTask(this.assignmentId);
        this.conflict = {
          mine: this.version,
          server: server.working?.version ?? err.body.current_version,
          serverBoxes: asLabels(server.working?.labels.boxes),
          detail: err.detail,
        };
        this.set("conflict");
      } else {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.set("error");
      }
    }
  }

  /** Take the server's version as the new base (after the person chose to load it). */
  resolved(version: number): void {
    this.version = version;
    this.conflict = null;
    this.set("saved");
  }
}

function hasCurrentVersion(body: unknown): body is { current_version: number } {
  return typeof body === "object" && body !== null && "current_version" in body;
}
