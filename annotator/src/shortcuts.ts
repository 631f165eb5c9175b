// Every keyboard shortcut, in one table: the handler dispatches from it and the help overlay
// (press ?) lists it, so the two cannot disagree.

export interface Shortcut {
  /** KeyboardEvent.key values (case-insensitive for letters); "Ctrl+" prefix for Ctrl/Cmd */
  keys: string[];
  action: string;
  help: string;
  /** only in this mode (both when absent) */
  mode?: "annotate" | "review";
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ["?"], action: "help", help: "show or hide this help" },
  { keys: ["Tab"], action: "next", help: "select the next box (Shift+Tab: previous)" },
  { keys: ["Escape"], action: "deselect", help: "deselect / close help" },
  { keys: ["ArrowUp", "ArrowDown"], action: "move-x", help: "move forward / back 0.1 m (Shift: 1 m)", mode: "annotate" },
  { keys: ["ArrowLeft", "ArrowRight"], action: "move-y", help: "move left / right 0.1 m (Shift: 1 m)", mode: "annotate" },
  { keys: ["PageUp", "PageDown"], action: "move-z", help: "move up / down 0.1 m", mode: "annotate" },
  { keys: ["q", "e"], action: "rotate", help: "rotate left / right 1° (Shift: 10°)", mode: "annotate" },
  { keys: ["i", "k"], action: "length", help: "length + / − 0.1 m", mode: "annotate" },
  { keys: ["l", "j"], action: "width", help: "width + / − 0.1 m", mode: "annotate" },
  { keys: ["t", "g"], action: "height", help: "height + / − 0.1 m", mode: "annotate" },
  { keys: ["1", "2", "3", "4", "5", "6", "7", "8", "9"], action: "class", help: "set the selected box's class (with a point tool: the class it paints); numbers in the lists", mode: "annotate" },
  { keys: ["f"], action: "fit", help: "auto-fit the selected box to its points", mode: "annotate" },
  { keys: ["y", "Enter"], action: "accept", help: "accept the selected pre-label into your labels", mode: "annotate" },
  { keys: ["Delete", "Backspace"], action: "delete", help: "delete the selected box / dismiss the selected pre-label", mode: "annotate" },
  { keys: ["<", ">"], action: "frame", help: "previous / next frame of the sequence (or click it on the frame strip)" },
  { keys: ["n"], action: "propagate", help: "propagate the selected box to the next frame: moved by its track's motion, refit to the points, a keyframe there", mode: "annotate" },
  { keys: ["Ctrl+z"], action: "undo", help: "undo", mode: "annotate" },
  { keys: ["Ctrl+y", "Ctrl+Z"], action: "redo", help: "redo", mode: "annotate" },
  { keys: ["Ctrl+s"], action: "save", help: "save now (autosave runs 1.5 s after each edit)", mode: "annotate" },
  { keys: ["m"], action: "tool-box", help: "box tool: draw and edit boxes (the default)", mode: "annotate" },
  { keys: ["b"], action: "tool-brush", help: "point tool: brush (paint the points under a circle)", mode: "annotate" },
  { keys: ["o"], action: "tool-lasso", help: "point tool: lasso (drag a free outline)", mode: "annotate" },
  { keys: ["p"], action: "tool-polygon", help: "point tool: polygon (click corners; Enter, double-click or the first corner closes)", mode: "annotate" },
  { keys: ["u"], action: "tool-cluster", help: "point tool: cluster (click a point: its whole object)", mode: "annotate" },
  { keys: ["a"], action: "fill-box", help: "give the points inside the selected box its class", mode: "annotate" },
  { keys: [",", "."], action: "point-class", help: "previous / next point class", mode: "annotate" },
  { keys: ["0"], action: "eraser", help: "point tools erase (paint 'unlabelled')", mode: "annotate" },
  { keys: ["z"], action: "height-band", help: "point tools touch any height / only ground / only above ground", mode: "annotate" },
  { keys: ["h"], action: "hide-labelled", help: "hide / show the points that have a class", mode: "annotate" },
  { keys: ["{", "}"], action: "brush-size", help: "smaller / bigger brush", mode: "annotate" },
  { keys: ["x"], action: "reject-box", help: "reject the selected box with the chosen reason", mode: "review" },
  { keys: ["v"], action: "approve-box", help: "clear the selected box's rejection", mode: "review" },
  { keys: ["c"], action: "colour", help: "colour points by intensity / height / distance / class" },
  { keys: ["+", "-"], action: "point-size", help: "bigger / smaller points" },
  { keys: ["[", "]"], action: "zoom-top", help: "zoom the top view out / in (or the mouse wheel on it)" },
];

export const MOUSE_HELP: Array<[string, string]> = [
  ["drag in the top view (empty area)", "draw a new box"],
  ["click a box in the top view", "select it"],
  ["drag inside the selected box", "move it"],
  ["drag an edge of the selected box", "resize that side (the opposite side stays)"],
  ["Shift + drag on the selected box (top or 3D view)", "turn its heading about its centre"],
  ["drag inside the box in the side or front view", "move it along that view (and up / down)"],
  ["drag an edge in the side or front view", "resize its length (side), width (front) or height"],
  ["why no rotation in the side and front views", "boxes are yaw-only (heading about +z): the views that see the ground turn them"],
  ["drag / right-drag / wheel in the 3D view", "orbit / pan / zoom (with a point tool: paint / orbit / zoom)"],
  ["point tools, in the top or the 3D view", "touch only the points shown and in the height band (z, h)"],
];

/** The shortcut an event triggers in `mode`, with the index of the key that matched. */
export function match(
  event: KeyboardEvent,
  mode: "annotate" | "review",
): { shortcut: Shortcut; index: number } | null {
  const ctrl = event.ctrlKey || event.metaKey;
  for (const shortcut of SHORTCUTS) {
    if (shortcut.mode && shortcut.mode !== mode) continue;
    for (let index = 0; index < shortcut.keys.length; index++) {
      const key = shortcut.keys[index];
      const wantCtrl = key.startsWith("Ctrl+");
      const name = wantCtrl ? key.slice(5) : key;
      if (wantCtrl !== ctrl) continue;
      const same =
        name.length === 1 && /[a-z]/i.test(name)
          ? wantCtrl
            ? event.key === name // Ctrl+z vs Ctrl+Z (Shift) differ
            : event.key.toLowerCase() === name
          : event.key === name;
      if (same) return { shortcut, index };
    }
  }
  return null;
}
