// The dashboards' calls to the backend, typed by the generated OpenAPI schema (through the
// app's one client, ../api/client.ts: bearer token, ApiError with the server's detail).
import { api, ok, storedToken, ApiError, type Schemas } from "../api/client";

export type Case = Schemas["CaseOut"];
export type CaseNode = Schemas["NodeOut"];
export type Spis = Schemas["SpisOut"];
export type Spi = Schemas["SpiOut"];
export type Release = Schemas["ReleaseOut"];
export type Evidence = Schemas["EvidenceOut"];
export type Ops = Schemas["OpsOut"];

/** The figures of ``/qa/report`` the operations page reads (that route has no schema). */
export interface QaPerson {
  name: string;
  role: string;
  tasks_submitted: number;
  tasks_per_hour: number | null;
  reviews_done: number;
  reviews_per_hour: number | null;
  reviewer_gold_checks: number;
  reviewer_accuracy: number | null;
  gold_accuracy: number | null;
  rejection_rate: number | null;
}
export interface QaTier {
  tier: number;
  tasks: number;
  accepted: number;
  waiting: number;
  time_to_decision_p50_s: number | null;
  time_to_decision_p90_s: number | null;
  queue_age_p50_s: number | null;
  queue_age_max_s: number | null;
}
export interface QaReport {
  at: string;
  people: QaPerson[];
  tiers: QaTier[];
  batch: { items: number; fleiss_kappa: number | null; krippendorff_alpha_class: number | null };
}

const version = (v: string | null) => (v ? { model_version: v } : {});

export async function getCase(modelVersion: string | null): Promise<Case> {
  return ok(await api.GET("/safety/case", { params: { query: version(modelVersion) } }));
}

export async function getSpis(modelVersion: string | null): Promise<Spis> {
  return ok(await api.GET("/safety/spis", { params: { query: version(modelVersion) } }));
}

export async function getRelease(modelVersion: string): Promise<Release> {
  return ok(
    await api.GET("/safety/releases/{version}", { params: { path: { version: modelVersion } } }),
  );
}

export async function signOff(
  modelVersion: string,
  comment: string,
): Promise<Schemas["SignOffOut"]> {
  return ok(
    await api.POST("/safety/releases/{version}/signoffs", {
      params: { path: { version: modelVersion } },
      body: { comment },
    }),
  );
}

/** The verdict's evidence rows (every number behind it). */
export async function verdictEvidence(verdictId: number): Promise<Evidence[]> {
  const detail = ok(
    await api.GET("/evidence/verdicts/{verdict_id}", {
      params: { path: { verdict_id: verdictId } },
    }),
  );
  return detail.evidence;
}

export async function getOps(): Promise<Ops> {
  return ok(await api.GET("/ops/kpis"));
}

export async function getQa(): Promise<QaReport> {
  return ok(await api.GET("/qa/report")) as unknown as QaReport;
}

/** The release report (one self-contained HTML file) as a Blob and its file name. */
export async function reportFile(modelVersion: string): Promise<{ blob: Blob; name: string }> {
  const response = await fetch(`/safety/releases/${encodeURIComponent(modelVersion)}/report.html`, {
    headers: { Authorization: `Bearer ${storedToken() ?? ""}` },
  });
  if (!response.ok) throw new ApiError(response.status, await response.text(), null);
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name =
    /filename="([^"]+)"/.exec(disposition)?.[1] ?? `longtail-safety-${modelVersion}.html`;
  return { blob: await response.blob(), name };
}

export type Sotif = Schemas["SotifOut"];
export type Condition = Schemas["ConditionOut"];
export type Discovery = Schemas["DiscoveryOut"];
export type Snapshots = Schemas["SnapshotPage"];
export type Diff = Schemas["DiffOut"];

export async function getSotif(modelVersion: string | null): Promise<Sotif> {
  return ok(await api.GET("/safety/sotif", { params: { query: version(modelVersion) } }));
}

/** The releases' snapshots, newest first (up to ``limit``). */
export async function getSnapshots(limit = 200): Promise<Snapshots> {
  return ok(await api.GET("/safety/snapshots", { params: { query: { limit } } }));
}

export async function getDiff(base: string, target: string): Promise<Diff> {
  return ok(
    await api.GET("/safety/snapshots/{base}/diff/{target}", {
      params: { path: { base, target } },
    }),
  );
}
