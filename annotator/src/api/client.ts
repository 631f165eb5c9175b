// The app's only door to the backend: openapi-fetch over the types generated from the API's
// OpenAPI schema (schema.d.ts, from openapi.json; `make api-client` regenerates both and a test
// fails when they are stale). Every call carries the person's bearer token.
import createClient, { type Middleware } from "openapi-fetch";
import { readLod } from "../lod";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Lease = Schemas["LeaseOut"];
export type BoxLabel = Schemas["BoxIn"];
export type Labels = Schemas["LabelsIn"];
export type Me = Schemas["MeOut"];
export type Ontology = Schemas["OntologyOut"];
export type Review = Schemas["ReviewOut"];
export type BoxVerdict = Schemas["BoxVerdictIn"];

/** An API answer that was not 2xx: the status and the server's `detail` text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly body: unknown,
  ) {
    super(`${status}: ${detail}`);
  }
}

const TOKEN_KEY = "longtail.token";

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = storedToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

function detailOf(body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) {
    const d = (body as { detail: unknown }).detail;
    return typeof d === "string" ? d : JSON.stringify(d);
  }
  return String(body ?? "");
}

/** The data of an openapi-fetch result, or an ApiError with the status and detail. */
export function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(result.response.status, detailOf(result.error), result.error);
  }
  return result.data as T;
}

export async function login(name: string, password: string): Promise<Me> {
  const token = ok(await api.POST("/auth/login", { body: { name, password } }));
  sessionStorage.setItem(TOKEN_KEY, token.token);
  return me();
}

export async function me(): Promise<Me> {
  return ok(await api.GET("/auth/me"));
}

/** The caller's next task at `stage`, or null when nothing is waiting (204, with the reason). */
export async function nextTask(
  stage: "annotate" | "review" | "adjudicate",
): Promise<{ lease: Lease | null; reason: string }> {
  const result = await api.POST("/work/next", { params: { query: { stage } } });
  if (result.response.status === 204) {
    return { lease: null, reason: result.response.headers.get("X-Longtail-Reason") ?? "" };
  }
  return { lease: ok(result), reason: "" };
}

export async function readTask(assignmentId: number): Promise<Lease> {
  return ok(
    await api.GET("/work/{assignment_id}", { params: { path: { assignment_id: assignmentId } } }),
  );
}

/** A frame's points coarse level first (`encoding=lod`, see lod.ts): `onCoarse` gets a
 * spatially even subset while the rest streams in; resolves with every point in the frame's
 * order: float32 (N, 4) x, y, z, intensity in the sensor frame (metres). */
export async function framePointsLod(
  assignmentId: number,
  frameId: string,
  onCoarse?: (coarse: Float32Array) => void,
): Promise<Float32Array> {
  const result = await api.GET("/work/{assignment_id}/frames/{frame_id}/points", {
    params: { path: { assignment_id: assignmentId, frame_id: frameId }, query: { encoding: "lod" } },
    parseAs: "stream",
  });
  return readLod(ok(result) as unknown as ReadableStream<Uint8Array>, onCoarse);
}

/** The task the person will most likely get after `assignmentId` (a guess, not a lease), or
 * null when nothing else waits for them. */
export async function upcoming(assignmentId: number): Promise<Schemas["UpcomingOut"] | null> {
  const result = await api.GET("/work/{assignment_id}/upcoming", {
    params: { path: { assignment_id: assignmentId } },
  });
  return result.response.status === 204 ? null : ok(result);
}

/** A frame of the upcoming task's points (coarse-first form, read to the end). */
export async function upcomingPoints(assignmentId: number, frameId: string): Promise<Float32Array> {
  const result = await api.GET("/work/{assignment_id}/upcoming/frames/{frame_id}/points", {
    params: { path: { assignment_id: assignmentId, frame_id: frameId }, query: { encoding: "lod" } },
    parseAs: "stream",
  });
  return readLod(ok(result) as unknown as ReadableStream<Uint8Array>);
}

/** What the segmentation tools select by, per point of a frame: height above the estimated
 * ground (metres, NaN outside its grid) and object cluster id (-1: ground or none). */
export async function frameStructure(
  assignmentId: number,
  frameId: string,
): Promise<{ heights: Float32Array; clusters: Int32Array }> {
  const result = await api.GET("/work/{assignment_id}/frames/{frame_id}/structure", {
    params: { path: { assignment_id: assignmentId, frame_id: frameId } },
    parseAs: "arrayBuffer",
  });
  const buffer = ok(result) as unknown as ArrayBuffer;
  const n = buffer.byteLength / 8;
  return { heights: new Float32Array(buffer, 0, n), clusters: new Int32Array(buffer, 4 * n, n) };
}

/** The indices of a frame's points inside `box` (the server's one points-in-box test). */
export async function pointsInside(
  assignmentId: number,
  frameId: string,
  box: number[],
): Promise<Uint32Array> {
  const result = await api.POST("/work/{assignment_id}/inside", {
    params: { path: { assignment_id: assignmentId } },
    body: { frame_id: frameId, box, margin_m: 0 },
    parseAs: "arrayBuffer",
  });
  return new Uint32Array(ok(result) as unknown as ArrayBuffer);
}

export async function saveLabels(
  assignmentId: number,
  baseVersion: number,
  labels: Labels,
  draft: boolean,
): Promise<Schemas["SavedOut"]> {
  return ok(
    await api.PUT("/work/{assignment_id}/labels", {
      params: { path: { assignment_id: assignmentId } },
      body: { base_version: baseVersion, labels, draft },
    }),
  );
}

export async function submit(assignmentId: number, baseVersion: number): Promise<void> {
  ok(
    await api.POST("/work/{assignment_id}/submit", {
      params: { path: { assignment_id: assignmentId } },
      body: { base_version: baseVersion },
    }),
  );
}

export async function renew(assignmentId: number): Promise<Lease> {
  return ok(
    await api.POST("/work/{assignment_id}/renew", {
      params: { path: { assignment_id: assignmentId } },
    }),
  );
}

/** Give the lease back when the person leaves (keepalive: it outlives the page). */
export function releaseOnLeave(assignmentId: number): void {
  const token = storedToken();
  if (!token) return;
  void fetch(`/work/${assignmentId}/release`, {
    method: "POST",
    keepalive: true,
    headers: { Authorization: `Bearer ${token}` },
  });
}

export async function autoFit(
  assignmentId: number,
  frameId: string,
  box: number[],
): Promise<Schemas["FitOut"]> {
  return ok(
    await api.POST("/work/{assignment_id}/fit", {
      params: { path: { assignment_id: assignmentId } },
      body: { frame_id: frameId, box },
    }),
  );
}

export async function ontology(): Promise<Ontology> {
  return ok(await api.GET("/ontology"));
}

export async function review(
  assignmentId: number,
  body: Schemas["ReviewIn"],
): Promise<Schemas["OutcomeOut"]> {
  return ok(
    await api.POST("/work/{assignment_id}/review", {
      params: { path: { assignment_id: assignmentId } },
      body,
    }),
  );
}

/** The other annotators' label sets of an overlap task, each box with its agreement with the
 * labels being judged (empty for a one-annotator task). */
export async function agreement(assignmentId: number): Promise<Schemas["AgreementOut"][]> {
  return ok(
    await api.GET("/work/{assignment_id}/agreement", {
      params: { path: { assignment_id: assignmentId } },
    }),
  );
}

/** The senior panel closes an escalated task: accept a label set (or give its own labels). */
export async function adjudicate(
  assignmentId: number,
  body: Schemas["AdjudicationIn"],
): Promise<Schemas["OutcomeOut"]> {
  return ok(
    await api.POST("/work/{assignment_id}/adjudicate", {
      params: { path: { assignment_id: assignmentId } },
      body,
    }),
  );
}
