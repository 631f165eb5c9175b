// The operations page: the health of the human review and of the loop, from /ops/kpis (loop,
// fleet) and /qa/report (people, tiers). Every chart has its numbers in a table beside it.
import { bandDatasets, draw, PALETTE, THRESHOLD } from "./charts";
import { getOps, getQa, type Ops, type QaReport } from "./api";
import { chartBox, el, section, table } from "./dom";
import { duration, interval, num, percent, signed } from "./format";
import type { View } from "./view";

const STAGE_NAMES: Record<string, string> = {
  upload_to_task: "upload → task",
  labelling: "labelling",
  label_to_dataset: "label → dataset",
  dataset_to_verdict: "retrain + evaluate + gate",
  verdict_to_canary: "verdict → canary",
  canary: "canary → decision",
};

const clock = (iso: string) =>
  new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function agreement(ops: Ops, qa: QaReport): HTMLElement {
  const points = ops.agreement;
  const { box, canvas } = chartBox("chart-agreement");
  draw(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => clock(p.end)),
      datasets: [
        {
          label: "alpha, objects of the window",
          data: points.map((p) => p.alpha),
          borderColor: PALETTE[0],
          spanGaps: false,
        },
        {
          label: "alpha, every object so far",
          data: points.map((p) => p.alpha_so_far),
          borderColor: PALETTE[1],
        },
      ],
    },
    options: {
      scales: {
        y: {
          suggestedMin: 0,
          suggestedMax: 1,
          title: { display: true, text: "Krippendorff's alpha" },
        },
      },
    },
  });
  return section(
    "Inter-annotator agreement over time",
    "ops-agreement",
    el(
      "p",
      { class: "hint" },
      `class votes of the overlap tasks; batch: alpha ${num(qa.batch.krippendorff_alpha_class)}, Fleiss' kappa ${num(qa.batch.fleiss_kappa)} over ${qa.batch.items} objects`,
    ),
    box,
    table(
      ["window end", "objects", "alpha", "objects so far", "alpha so far"],
      points.map((p) => ({
        cells: [clock(p.end), p.objects, num(p.alpha), p.objects_so_far, num(p.alpha_so_far)],
      })),
      { class: "compact" },
    ),
  );
}

function reviewers(qa: QaReport): HTMLElement {
  const people = qa.people.filter((p) => p.reviews_done > 0 || p.reviewer_gold_checks > 0);
  const { box, canvas } = chartBox("chart-reviewers", 220);
  draw(canvas, {
    type: "bar",
    data: {
      labels: people.map((p) => p.name),
      datasets: [
        {
          label: "reviews per hour",
          data: people.map((p) => p.reviews_per_hour),
          backgroundColor: PALETTE[0],
          yAxisID: "y",
        },
        {
          label: "accuracy on hidden gold reviews",
          data: people.map((p) => p.reviewer_accuracy),
          backgroundColor: PALETTE[2],
          yAxisID: "y1",
        },
      ],
    },
    options: {
      scales: {
        y: { position: "left" },
        y1: { position: "right", min: 0, max: 1, grid: { drawOnChartArea: false } },
      },
    },
  });
  const labellers = qa.people.filter((p) => p.tasks_submitted > 0);
  return section(
    "Reviewer throughput and accuracy",
    "ops-reviewers",
    people.length ? box : el("p", { class: "hint" }, "No review decided yet."),
    table(
      ["reviewer", "role", "reviews", "per hour", "gold checks", "accuracy"],
      people.map((p) => ({
        cells: [
          p.name,
          p.role,
          p.reviews_done,
          num(p.reviews_per_hour, 1),
          p.reviewer_gold_checks,
          percent(p.reviewer_accuracy, 0),
        ],
      })),
      { class: "compact", id: "reviewer-table" },
    ),
    el("h3", {}, "Annotators"),
    table(
      ["annotator", "tasks", "per hour", "gold accuracy", "rejected"],
      labellers.map((p) => ({
        cells: [
          p.name,
          p.tasks_submitted,
          num(p.tasks_per_hour, 1),
          percent(p.gold_accuracy, 0),
          percent(p.rejection_rate, 0),
        ],
      })),
      { class: "compact" },
    ),
  );
}

function tiers(qa: QaReport): HTMLElement {
  const { box, canvas } = chartBox("chart-tiers", 220);
  const minutes = (s: number | null) => (s === null ? null : s / 60);
  draw(canvas, {
    type: "bar",
    data: {
      labels: qa.tiers.map((t) => `tier ${t.tier}`),
      datasets: [
        {
          label: "time to decision p50",
          data: qa.tiers.map((t) => minutes(t.time_to_decision_p50_s)),
          backgroundColor: PALETTE[0],
        },
        {
          label: "time to decision p90",
          data: qa.tiers.map((t) => minutes(t.time_to_decision_p90_s)),
          backgroundColor: PALETTE[4],
        },
        {
          label: "queue age p50",
          data: qa.tiers.map((t) => minutes(t.queue_age_p50_s)),
          backgroundColor: PALETTE[1],
        },
        {
          label: "queue age max",
          data: qa.tiers.map((t) => minutes(t.queue_age_max_s)),
          backgroundColor: PALETTE[3],
        },
      ],
    },
    options: { scales: { y: { title: { display: true, text: "minutes" } } } },
  });
  return section(
    "Time to decision and queue age per tier",
    "ops-tiers",
    box,
    table(
      [
        "tier",
        "tasks",
        "accepted",
        "waiting",
        "decision p50",
        "decision p90",
        "queue age p50",
        "oldest waiting",
      ],
      qa.tiers.map((t) => ({
        cells: [
          t.tier,
          t.tasks,
          t.accepted,
          t.waiting,
          duration(t.time_to_decision_p50_s),
          duration(t.time_to_decision_p90_s),
          duration(t.queue_age_p50_s),
          duration(t.queue_age_max_s),
        ],
      })),
      { class: "compact", id: "tier-table" },
    ),
  );
}

function deltas(ops: Ops): HTMLElement {
  const loops = ops.loops;
  const recall = loops.map((l) => l.deltas.find((d) => d.metric === "recall") ?? null);
  const { box, canvas } = chartBox("chart-deltas");
  draw(canvas, {
    type: "line",
    data: {
      labels: loops.map((l) => `#${l.verdict_id} ${l.model_version}`),
      datasets: [
        ...bandDatasets(
          "recall",
          recall.map((d) => d?.lo ?? null),
          recall.map((d) => d?.hi ?? null),
        ),
        {
          label: "recall: candidate − champion",
          data: recall.map((d) => d?.value ?? null),
          borderColor: PALETTE[0],
          pointBackgroundColor: loops.map((l) => (l.passed ? "#2f8f46" : "#c62828")),
          pointRadius: 5,
        },
        {
          label: "gate: lowest allowed",
          data: recall.map((d) => d?.threshold ?? null),
          borderColor: THRESHOLD,
          borderDash: [6, 4],
          pointRadius: 0,
        },
      ],
    },
  });
  const metrics = [...new Set(loops.flatMap((l) => l.deltas.map((d) => d.metric)))];
  return section(
    "Model performance delta per loop",
    "ops-deltas",
    el(
      "p",
      { class: "hint" },
      "each gate verdict is one loop: the paired difference on the whole edge-case suite with its 95 % interval",
    ),
    box,
    table(
      ["loop", "candidate", "champion", "gate", ...metrics],
      loops.map((l) => ({
        cls: l.passed ? undefined : "fail",
        cells: [
          `#${l.verdict_id}`,
          l.model_version,
          l.champion_version,
          l.passed
            ? "passed"
            : l.bypassed
              ? "failed, bypassed"
              : `FAILED ${l.failed_slices.join(", ")}`,
          ...metrics.map((m) => {
            const d = l.deltas.find((x) => x.metric === m);
            return d
              ? {
                  text: `${signed(d.value)} ${interval(d.lo, d.hi)}`,
                  cls: d.passed === false ? "fail" : undefined,
                }
              : "–";
          }),
        ],
      })),
      { class: "compact", id: "delta-table" },
    ),
  );
}

function latency(ops: Ops): HTMLElement {
  const loops = ops.latency;
  const stages = Object.keys(STAGE_NAMES);
  const { box, canvas } = chartBox("chart-latency", Math.max(160, 40 * loops.length + 80));
  draw(canvas, {
    type: "bar",
    data: {
      labels: loops.map((l) => `#${l.verdict_id} ${l.model_version}`),
      datasets: stages.map((s, i) => ({
        label: STAGE_NAMES[s],
        data: loops.map((l) =>
          (l.stages[s] ?? null) === null ? null : (l.stages[s] as number) / 60,
        ),
        backgroundColor: PALETTE[i % PALETTE.length],
      })),
    },
    options: {
      indexAxis: "y",
      scales: {
        x: { stacked: true, title: { display: true, text: "minutes" } },
        y: { stacked: true },
      },
    },
  });
  return section(
    "Feedback-loop latency by stage",
    "ops-latency",
    el(
      "p",
      { class: "hint" },
      "medians over the tasks of the dataset version each loop trained on; the decision is the canary's, or the verdict when none ran",
    ),
    box,
    table(
      [
        "loop",
        "tasks",
        ...stages.map((s) => STAGE_NAMES[s]),
        "newest label → decision",
        "decision",
      ],
      loops.map((l) => ({
        cells: [
          `#${l.verdict_id} ${l.model_version}`,
          l.tasks,
          ...stages.map((s) => duration(l.stages[s] ?? null)),
          duration(l.last_label_to_decision),
          l.decision,
        ],
      })),
      { class: "compact", id: "latency-table" },
    ),
  );
}

function capture(ops: Ops): HTMLElement {
  const triggers = [...new Set(ops.capture.map((c) => c.trigger))];
  const versions = [...new Set(ops.capture.map((c) => c.model_version))];
  const rate = (t: string, v: string) =>
    ops.capture.find((c) => c.trigger === t && c.model_version === v)?.rate ?? null;
  const { box, canvas } = chartBox("chart-capture");
  draw(canvas, {
    type: "bar",
    data: {
      labels: triggers,
      datasets: versions.map((v, i) => ({
        label: v,
        data: triggers.map((t) => {
          const r = rate(t, v);
          return r === null ? null : r * 1000;
        }),
        backgroundColor: PALETTE[i % PALETTE.length],
      })),
    },
    options: {
      scales: { y: { title: { display: true, text: "captured per 1000 analysed frames" } } },
    },
  });
  return section(
    "Capture rate per trigger",
    "ops-capture",
    box,
    table(
      ["trigger", "model", "frames stored", "frames analysed", "rate"],
      ops.capture.map((c) => ({
        cells: [c.trigger, c.model_version, c.frames_stored, c.frames_analysed, percent(c.rate)],
      })),
      { class: "compact", id: "capture-table" },
    ),
  );
}

function drift(ops: Ops): HTMLElement {
  const { box, canvas } = chartBox("chart-fleet-scores", 220);
  const versions = [...new Set(ops.fleet_scores.map((s) => s.model_version))];
  draw(canvas, {
    type: "line",
    data: {
      labels: ops.fleet_scores.map((s) => clock(s.at)),
      datasets: versions.flatMap((v, i) => [
        {
          label: `${v} mean`,
          data: ops.fleet_scores.map((s) => (s.model_version === v ? s.score_mean : null)),
          borderColor: PALETTE[i % PALETTE.length],
          pointRadius: 4,
          spanGaps: true,
        },
        {
          label: `${v} p95`,
          data: ops.fleet_scores.map((s) => (s.model_version === v ? s.score_p95 : null)),
          borderColor: PALETTE[i % PALETTE.length],
          borderDash: [4, 3],
          pointRadius: 4,
          spanGaps: true,
        },
      ]),
    },
    options: { scales: { y: { min: 0, max: 1, title: { display: true, text: "frame score" } } } },
  });
  return section(
    "Drift of the fleet's score distributions",
    "ops-drift",
    el(
      "p",
      { class: "hint" },
      "the random monitoring sample of each model version against the first one's (two-sample Kolmogorov–Smirnov distance, 0 = same distribution); below, every health report's score summary over all frames analysed",
    ),
    table(
      ["model", "sample frames", "mean", "median", "p95", "KS vs reference"],
      ops.drift.map((d) => ({
        cells: [
          d.model_version,
          d.frames,
          num(d.mean),
          num(d.p50),
          num(d.p95),
          d.ks === null ? `reference` : num(d.ks),
        ],
      })),
      { class: "compact", id: "drift-table" },
    ),
    box,
  );
}

export const opsView: View = {
  title: "Operations",
  async render(root) {
    const [ops, qa] = await Promise.all([getOps(), getQa()]);
    root.append(
      el(
        "p",
        { class: "summary" },
        `computed ${new Date(ops.at).toLocaleString()}: ${ops.loops.length} loops (gate verdicts), ${new Set(ops.capture.map((c) => c.model_version)).size} model versions seen in the fleet's frames`,
      ),
      el(
        "div",
        { class: "ops-grid" },
        agreement(ops, qa),
        reviewers(qa),
        tiers(qa),
        deltas(ops),
        latency(ops),
        capture(ops),
        drift(ops),
      ),
    );
  },
};
