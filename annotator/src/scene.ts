// The two views on one WebGL canvas: a perspective view (orbit with the mouse) and a top
// orthographic view inset at the top right that follows the selected box. Points stay in the
// frame's sensor frame (ego-relative float32: the vehicle is at the origin, so precision holds
// however far the vehicle is from the map origin); the fetched buffer is used as is, no copy.
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import type { BoxLabel } from "./api/client";
import { sliceFrame } from "./state";

export type ColourMode = "intensity" | "height" | "distance" | "label";
export const COLOUR_MODES: ColourMode[] = ["intensity", "height", "distance", "label"];
/** colours of point classes in the shader, indexed by the class's point id modulo this */
const PALETTE_SIZE = 64;

/** Colours of boxes: a palette indexed by the class's position in the ontology. */
const PALETTE = [0x4cc9f0, 0xf72585, 0xb5e48c, 0xffd166, 0x9b5de5, 0x06d6a0, 0xef476f, 0x118ab2];
export const classColour = (index: number): number => PALETTE[index % PALETTE.length];
export const PRELABEL_COLOUR = 0xff9f1c;
export const SELECTED_COLOUR = 0xffffff;
export const REJECTED_COLOUR = 0xff2d2d;
export const APPROVED_COLOUR = 0x38b000;

const VERTEX = /* glsl */ `
attribute float intensity;
attribute float label;
uniform float size;
uniform int mode;
uniform bool hideLabelled;
uniform vec3 palette[${PALETTE_SIZE}];
uniform float zlo;
uniform float zhi;
uniform float rmax;
varying vec3 vColour;
vec3 ramp(float t) {
  t = clamp(t, 0.0, 1.0);
  return vec3(clamp(1.5 - abs(4.0 * t - 3.0), 0.0, 1.0),
              clamp(1.5 - abs(4.0 * t - 2.0), 0.0, 1.0),
              clamp(1.5 - abs(4.0 * t - 1.0), 0.0, 1.0));
}
void main() {
  if (hideLabelled && label > 0.5) {
    gl_Position = vec4(2.0, 2.0, 2.0, 1.0); // outside the clip volume: not drawn
    gl_PointSize = 0.0;
    return;
  }
  float t = mode == 0 ? 0.15 + 0.85 * intensity
          : mode == 1 ? (position.z - zlo) / max(zhi - zlo, 1e-3)
          : length(position.xy) / rmax;
  vColour = mode == 3
    ? (label > 0.5 ? palette[int(mod(label + 0.5, ${PALETTE_SIZE}.0))] : vec3(0.25 + 0.3 * intensity))
    : ramp(t);
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
  gl_PointSize = size;
}`;

const FRAGMENT = /* glsl */ `
varying vec3 vColour;
void main() { gl_FragColor = vec4(vColour, 1.0); }`;

export interface BoxStyle {
  colour: number;
  dashed: boolean;
}

export class Views {
  readonly renderer: THREE.WebGLRenderer;
  readonly scene = new THREE.Scene();
  readonly camera: THREE.PerspectiveCamera;
  readonly topCamera: THREE.OrthographicCamera;
  readonly controls: OrbitControls;
  /** half of the top view's side, metres */
  topHalf = 12;
  topCentre = new THREE.Vector2(0, 0);
  /** the box the side and front views look at (they are hidden without one) */
  followed: number[] | null = null;
  private readonly sliceCamera = new THREE.OrthographicCamera(-1, 1, 1, -1, 0.1, 100);
  colourMode: ColourMode = "intensity";
  private points: THREE.Points | null = null;
  private labels: THREE.BufferAttribute | null = null;
  private material: THREE.ShaderMaterial;
  private boxes = new THREE.Group();
  private pending = false;
  /** frames rendered (the benchmark reads it) and when the first frame with points was drawn */
  frames = 0;
  firstPointsFrameAt: number | null = null;
  /** whether the points shown are the coarse level of a frame still loading or all of it */
  private level: "coarse" | "full" = "full";

  constructor(
    readonly canvas: HTMLCanvasElement,
    readonly perspArea: HTMLElement,
    readonly topArea: HTMLElement,
    readonly sideArea: HTMLElement,
    readonly frontArea: HTMLElement,
  ) {
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: false });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.renderer.setClearColor(0x101418);
    this.camera = new THREE.PerspectiveCamera(60, 1, 0.1, 500);
    this.camera.up.set(0, 0, 1);
    this.camera.position.set(-6, -4, 9);
    this.controls = new OrbitControls(this.camera, perspArea);
    this.controls.target.set(10, 1, -1);
    this.controls.addEventListener("change", () => this.requestRender());
    this.controls.update();
    this.topCamera = new THREE.OrthographicCamera(-1, 1, 1, -1, 0.1, 200);
    this.topCamera.up.set(1, 0, 0); // forward (+x) is up on screen, +y (left) is left
    this.material = new THREE.ShaderMaterial({
      vertexShader: VERTEX,
      fragmentShader: FRAGMENT,
      uniforms: {
        size: { value: 2.0 },
        mode: { value: 0 },
        zlo: { value: -2.0 },
        zhi: { value: 2.0 },
        rmax: { value: 60.0 },
        hideLabelled: { value: false },
        palette: { value: Array.from({ length: PALETTE_SIZE }, () => new THREE.Color(0xffffff)) },
      },
    });
    this.scene.add(this.boxes);
    this.addGround(-1.73);
    new ResizeObserver(() => this.requestRender()).observe(canvas);
    // when this task's points are first on screen (the previous task's times do not count)
    delete canvas.dataset.coarsePointsAt;
    delete canvas.dataset.firstPointsAt;
  }

  /** Show the points of one frame: `data` is float32 (N, 4) x, y, z, intensity; `level`
   * "coarse" for the coarse level drawn while the rest loads (lod.ts). */
  setPoints(data: Float32Array, level: "coarse" | "full" = "full"): void {
    this.level = level;
    if (this.points) {
      this.scene.remove(this.points);
      this.points.geometry.dispose();
    }
    const interleaved = new THREE.InterleavedBuffer(data, 4);
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute("position", new THREE.InterleavedBufferAttribute(interleaved, 3, 0));
    geometry.setAttribute("intensity", new THREE.InterleavedBufferAttribute(interleaved, 1, 3));
    const n = data.length / 4;
    this.labels = new THREE.BufferAttribute(new Float32Array(n), 1);
    this.labels.setUsage(THREE.DynamicDrawUsage);
    geometry.setAttribute("label", this.labels);
    const zs = new Float32Array(n);
    let rmax = 1;
    for (let i = 0; i < n; i++) {
      zs[i] = data[4 * i + 2];
      rmax = Math.max(rmax, Math.hypot(data[4 * i], data[4 * i + 1]));
    }
    zs.sort();
    const ground = n ? zs[Math.floor(0.05 * n)] : -1.73;
    this.material.uniforms.zlo.value = ground;
    this.material.uniforms.zhi.value = ground + 3.0;
    this.material.uniforms.rmax.value = Math.min(rmax, 120);
    this.points = new THREE.Points(geometry, this.material);
    this.points.frustumCulled = false;
    this.scene.add(this.points);
    this.firstPointsFrameAt = null;
    this.requestRender();
  }

  /** The semantic class of every point (label words, `semantic | instance << 16`). */
  setLabels(words: Uint32Array): void {
    const target = this.labels;
    if (!target) return;
    const values = target.array as Float32Array;
    for (let i = 0; i < values.length; i++) values[i] = words[i] & 0xffff;
    target.needsUpdate = true;
    this.requestRender();
  }

  /** The colour of each point class id (colour mode "label"). */
  setLabelColours(colours: Map<number, number>): void {
    const palette = this.material.uniforms.palette.value as THREE.Color[];
    for (const [id, colour] of colours) palette[id % PALETTE_SIZE].setHex(colour);
    this.requestRender();
  }

  get hideLabelled(): boolean {
    return this.material.uniforms.hideLabelled.value as boolean;
  }

  setHideLabelled(hide: boolean): void {
    this.material.uniforms.hideLabelled.value = hide;
    this.requestRender();
  }

  /** The view-projection matrix (column-major) and the CSS size of the top or 3D view, as of
   * the last render (the picking tools project the points with it). */
  viewOf(view: "top" | "persp"): { matrix: number[]; rect: DOMRect } {
    const camera = view === "top" ? this.topCamera : this.camera;
    const area = view === "top" ? this.topArea : this.perspArea;
    const m = new THREE.Matrix4().multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse);
    return { matrix: m.elements, rect: area.getBoundingClientRect() };
  }

  setColourMode(mode: ColourMode): void {
    this.colourMode = mode;
    this.material.uniforms.mode.value = COLOUR_MODES.indexOf(mode);
    this.requestRender();
  }

  get pointSize(): number {
    return this.material.uniforms.size.value as number;
  }

  setPointSize(size: number): void {
    this.material.uniforms.size.value = Math.min(8, Math.max(1, size));
    this.requestRender();
  }

  private addGround(z: number): void {
    const grid = new THREE.GridHelper(120, 24, 0x2a3440, 0x1c242c);
    grid.rotation.x = Math.PI / 2;
    grid.position.z = z;
    this.scene.add(grid);
    for (let r = 10; r <= 60; r += 10) {
      const ring = new THREE.BufferGeometry().setFromPoints(
        Array.from({ length: 129 }, (_, k) => {
          const a = (k / 128) * 2 * Math.PI;
          return new THREE.Vector3(r * Math.cos(a), r * Math.sin(a), z);
        }),
      );
      this.scene.add(new THREE.Line(ring, new THREE.LineBasicMaterial({ color: 0x33414f })));
    }
  }

  /** Draw every box; `style` decides colour and dash per box. */
  setBoxes(boxes: Array<{ box: BoxLabel; style: BoxStyle }>): void {
    for (const child of [...this.boxes.children]) {
      this.boxes.remove(child);
      const line = child as THREE.LineSegments;
      line.geometry.dispose();
      (line.material as THREE.Material).dispose();
    }
    for (const { box, style } of boxes) {
      const [x, y, z, l, w, h, yaw] = box.box;
      const edges = new THREE.EdgesGeometry(new THREE.BoxGeometry(l, w, h));
      const positions = Array.from(edges.getAttribute("position").array as Float32Array);
      positions.push(0, 0, 0, l / 2, 0, 0); // the heading: centre to the front face
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
      edges.dispose();
      const material = style.dashed
        ? new THREE.LineDashedMaterial({ color: style.colour, dashSize: 0.3, gapSize: 0.2 })
        : new THREE.LineBasicMaterial({ color: style.colour });
      const line = new THREE.LineSegments(geometry, material);
      if (style.dashed) line.computeLineDistances();
      line.position.set(x, y, z);
      line.rotation.z = yaw;
      line.userData.id = box.id;
      this.boxes.add(line);
    }
    this.requestRender();
  }

  /** Centre the top view on (x, y) (the selected box). */
  follow(x: number, y: number): void {
    this.topCentre.set(x, y);
    this.requestRender();
  }

  /** Show the side and front views of `box` (null hides them). */
  followBox(box: number[] | null): void {
    this.followed = box ? [...box] : null;
    this.sideArea.hidden = box === null;
    this.frontArea.hidden = box === null;
    this.requestRender();
  }

  /** An orthographic slice through the followed box: from its right side (`side`: heading to
   * the right of the screen) or from ahead of it (`front`), keeping only the points within the
   * box's depth (plus a margin) along the line of sight. */
  private renderSlice(area: HTMLElement, canvasRect: DOMRect, view: "side" | "front"): void {
    const box = this.followed;
    if (!box || area.hidden) return;
    const [x, y, z, l, w, , yaw] = box;
    const c = Math.cos(yaw);
    const s = Math.sin(yaw);
    const [dx, dy] = view === "side" ? [s, -c] : [c, s]; // towards the camera
    const depth = (view === "side" ? w : l) / 2 + 0.3;
    const distance = 50;
    const rect = area.getBoundingClientRect();
    const aspect = rect.width / Math.max(1, rect.height);
    const half = sliceFrame(box, view).half;
    const cam = this.sliceCamera;
    cam.left = -half * aspect;
    cam.right = half * aspect;
    cam.top = half;
    cam.bottom = -half;
    cam.near = distance - depth;
    cam.far = distance + depth;
    cam.up.set(0, 0, 1);
    cam.position.set(x + dx * distance, y + dy * distance, z);
    cam.lookAt(x, y, z);
    cam.updateProjectionMatrix();
    const left = rect.left - canvasRect.left;
    const bottom = canvasRect.bottom - rect.bottom;
    this.renderer.setViewport(left, bottom, rect.width, rect.height);
    this.renderer.setScissor(left, bottom, rect.width, rect.height);
    this.renderer.setClearColor(0x0b0e11);
    this.renderer.clear();
    this.renderer.setClearColor(0x101418);
    this.renderer.render(this.scene, cam);
    // where the slice looks (sensor frame, metres): the page maps drags with it, tests too
    const right = view === "side" ? [c, s] : [-s, c];
    area.dataset.view = [x, y, z, right[0], right[1], half].join(",");
  }

  zoomTop(factor: number): void {
    this.topHalf = Math.min(80, Math.max(3, this.topHalf * factor));
    this.requestRender();
  }

  /** The sensor-frame (x, y) under a client-space position in the top view. */
  topToWorld(clientX: number, clientY: number): [number, number] {
    const rect = this.topArea.getBoundingClientRect();
    const ndcX = ((clientX - rect.left) / rect.width) * 2 - 1;
    const ndcY = -((clientY - rect.top) / rect.height) * 2 + 1;
    const v = new THREE.Vector3(ndcX, ndcY, 0).unproject(this.topCamera);
    return [v.x, v.y];
  }

  /** Metres per CSS pixel in the top view. */
  get topMetresPerPixel(): number {
    return (2 * this.topHalf) / this.topArea.getBoundingClientRect().height;
  }

  requestRender(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render(): void {
    const canvasRect = this.canvas.getBoundingClientRect();
    const width = Math.max(1, Math.floor(canvasRect.width));
    const height = Math.max(1, Math.floor(canvasRect.height));
    const size = this.renderer.getSize(new THREE.Vector2());
    if (size.x !== width || size.y !== height) this.renderer.setSize(width, height, false);
    this.renderer.setScissorTest(true);
    this.renderer.setViewport(0, 0, width, height);
    this.renderer.setScissor(0, 0, width, height);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.renderer.render(this.scene, this.camera);
    const top = this.topArea.getBoundingClientRect();
    const left = top.left - canvasRect.left;
    const bottom = canvasRect.bottom - top.bottom;
    this.renderer.setViewport(left, bottom, top.width, top.height);
    this.renderer.setScissor(left, bottom, top.width, top.height);
    this.renderer.setClearColor(0x0b0e11);
    this.renderer.clear();
    this.renderer.setClearColor(0x101418);
    const aspect = top.width / Math.max(1, top.height);
    this.topCamera.left = -this.topHalf * aspect;
    this.topCamera.right = this.topHalf * aspect;
    this.topCamera.top = this.topHalf;
    this.topCamera.bottom = -this.topHalf;
    this.topCamera.position.set(this.topCentre.x, this.topCentre.y, 100);
    this.topCamera.lookAt(this.topCentre.x, this.topCentre.y, 0);
    this.topCamera.updateProjectionMatrix();
    this.renderer.render(this.scene, this.topCamera);
    this.renderSlice(this.sideArea, canvasRect, "side");
    this.renderSlice(this.frontArea, canvasRect, "front");
    this.renderer.setScissorTest(false);
    // where the top view looks (sensor frame, metres): pages and tests map clicks with it
    this.topArea.dataset.view = `${this.topCentre.x},${this.topCentre.y},${this.topHalf}`;
    this.frames += 1;
    if (this.points && this.firstPointsFrameAt === null) {
      // the first frame with the points is drawn; it is on screen at the next animation frame
      this.firstPointsFrameAt = -1;
      const key = this.level === "coarse" ? "coarsePointsAt" : "firstPointsAt";
      const drawn = this.points;
      requestAnimationFrame(() => {
        // other points came meanwhile (the full cloud after its coarse level): theirs to record
        if (this.points !== drawn) return;
        this.firstPointsFrameAt = performance.now();
        this.canvas.dataset[key] = String(this.firstPointsFrameAt);
      });
    }
  }
}
