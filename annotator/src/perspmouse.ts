// Heading with the mouse in the perspective 3D view: Shift + drag on the selected box turns it
// about its centre, the pointer followed on the horizontal plane through that centre (so the
// box turns under the pointer whatever the camera's angle). Boxes are yaw-only (x, y, z, l,
// w, h, yaw; backend/annotation/labels.py), so the heading is their one rotation: it is edited
// where the ground plane is seen (the top and the 3D view); the side and front views look along
// the ground, where a heading has no handle, and move and resize the box instead (boxmouse.ts).
import * as THREE from "three";
import type { BoxLabel } from "./api/client";
import type { Views } from "./scene";
import { inFootprint, wrapAngle, type LabelState } from "./state";

/** metres around the footprint that still grab the box (a thin box is hard to hit) */
const GRAB_M = 0.3;

export interface HeadingHost {
  readonly state: LabelState;
  readonly views: Views;
  redraw(): void;
}

export class PerspHeading {
  private drag: { start: number[]; angle0: number; before: string } | null = null;

  constructor(private readonly host: HeadingHost) {}

  /** Whether a heading drag is under way (its edits are not saved until it ends). */
  get dragging(): boolean {
    return this.drag !== null;
  }

  /** The (x, y) under the pointer on the horizontal plane at height `z` (sensor frame,
   * metres), or null when the pointer's ray does not meet it (looking above the horizon). */
  private onPlane(event: PointerEvent, z: number): [number, number] | null {
    const rect = this.host.views.perspArea.getBoundingClientRect();
    const ndc = new THREE.Vector2(
      ((event.clientX - rect.left) / rect.width) * 2 - 1,
      -((event.clientY - rect.top) / rect.height) * 2 + 1,
    );
    const ray = new THREE.Raycaster();
    ray.setFromCamera(ndc, this.host.views.camera);
    const hit = ray.ray.intersectPlane(new THREE.Plane(new THREE.Vector3(0, 0, 1), -z), new THREE.Vector3());
    return hit ? [hit.x, hit.y] : null;
  }

  /** A press in the 3D view: Shift + left button on the selected box starts turning it;
   * whether it did (the caller then keeps the camera still). */
  down(event: PointerEvent): boolean {
    const selected = this.host.state.selectedLabel();
    if (event.button !== 0 || !event.shiftKey || !selected) return false;
    const b = selected.box;
    const at = this.onPlane(event, b[2]);
    if (!at || !inFootprint(b, at[0], at[1], GRAB_M)) return false;
    this.drag = {
      start: [...b],
      angle0: Math.atan2(at[1] - b[1], at[0] - b[0]),
      before: JSON.stringify(this.host.state.boxes),
    };
    event.preventDefault();
    return true;
  }

  move(event: PointerEvent): void {
    const drag = this.drag;
    const sel = this.host.state.selectedLabel();
    if (!drag || !sel) return;
    const s = drag.start;
    const at = this.onPlane(event, s[2]);
    if (!at) return;
    const box = [...s];
    box[6] = wrapAngle(s[6] + Math.atan2(at[1] - s[1], at[0] - s[0]) - drag.angle0);
    sel.box = box; // live preview; one undo step on release
    this.host.redraw();
  }

  up(): void {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    const after = this.host.state.boxes;
    this.host.state.boxes = JSON.parse(drag.before) as BoxLabel[];
    this.host.state.edit((boxes) => {
      boxes.splice(0, boxes.length, ...after);
    });
  }
}
