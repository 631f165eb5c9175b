// Champion and candidate side by side on every suite slice: each model's own figure with its 95 %
// bootstrap interval (the gate's checks keep only the paired difference for no-regression), one
// metric at a time, picked from the metrics the comparison holds. Failed slices are drawn red.
import type { Chart } from "chart.js";
import { draw, PALETTE } from "./charts";
import type { Release } from "./api";
import { chartBox, el, section, table } from "./dom";
import { interval, num, signed } from "./format";

type Figure = Release["figures"][number];

/** The metric shown first: recall when the comparison holds it (what the gate's rules read). */
function firstMetric(metrics: string[]): string {
  return metrics.includes("recall") ? "recall" : metrics[0];
}

function chart(figures: Figure[], metric: string): { box: HTMLElement; chart: Chart } {
  const { box, canvas } = chartBox("release-figures", Math.max(180, 30 * figures.length + 70));
  const band = (e: Figure["champion"]) =>
    e.lo === null || e.hi === null ? null : ([e.lo, e.hi] as [number, number]);
  const drawn = draw(canvas, {
    type: "bar",
    data: {
      labels: figures.map((f) => f.slice),
      datasets: [
        {
          label: "champion, 95 % interval",
          data: figures.map((f) => band(f.champion)),
          backgroundColor: "rgba(160, 170, 180, 0.55)",
          barThickness: 9,
        },
        {
          label: "candidate, 95 % interval",
          data: figures.map((f) => band(f.candidate)),
          backgroundColor: "rgba(79, 163, 224, 0.65)",
          barThickness: 9,
        },
        {
          type: "line",
          label: "candidate",
          data: figures.map((f) => f.candidate.value),
          showLine: false,
          pointRadius: 4,
          pointBackgroundColor: PALETTE[1],
          borderColor: PALETTE[1],
        },
      ],
    },
    options: {
      indexAxis: "y",
      scales: { x: { title: { display: true, text: metric } } },
    },
  });
  return { box, chart: drawn };
}

function figureTable(figures: Figure[], failed: Set<string>): HTMLTableElement {
  const headers = [
    "slice",
    "champion",
    "95 % interval",
    "candidate",
    "95 % interval",
    "candidate − champion",
    "frames",
    "support",
  ];
  return table(
    headers,
    figures.map((f) => ({
      cls: failed.has(f.slice) ? "fail" : undefined,
      attrs: { "data-slice": f.slice, "data-metric": f.metric },
      cells: [
        { text: f.slice, cls: "slice" },
        num(f.champion.value),
        interval(f.champion.lo, f.champion.hi),
        num(f.candidate.value),
        interval(f.candidate.lo, f.candidate.hi),
        signed(f.difference.value),
        f.frames,
        f.support,
      ],
    })),
    { id: "figures", class: "numbers" },
  );
}

/** The section, or a note when the verdict kept no figures (recorded before they were kept). */
export function figuresSection(release: Release): HTMLElement {
  const title = "Champion and candidate, per slice";
  if (!release.figures.length)
    return section(
      title,
      "figures-section",
      el(
        "p",
        { class: "hint" },
        release.verdict && release.verdict.model_version === release.verdict.champion_version
          ? "The champion judged alone on the suite: its own figures are the checks above."
          : "This verdict keeps no per-model figures (recorded before they were kept).",
      ),
    );
  const metrics = [...new Set(release.figures.map((f) => f.metric))];
  const failed = new Set(release.failed_slices);
  const picker = el(
    "select",
    { id: "figures-metric", "aria-label": "metric" },
    ...metrics.map((m) => new Option(m, m)),
  );
  const body = el("div", {});
  let shown: Chart | null = null;
  const show = (metric: string) => {
    const figures = release.figures.filter((f) => f.metric === metric);
    shown?.destroy(); // the chart of the metric shown before
    const drawn = chart(figures, metric);
    shown = drawn.chart;
    body.replaceChildren(drawn.box, figureTable(figures, failed));
  };
  picker.value = firstMetric(metrics);
  picker.addEventListener("change", () => show(picker.value));
  show(picker.value);
  return section(
    title,
    "figures-section",
    el(
      "p",
      { class: "hint" },
      "Each model's own figure on the suite's slices, with 95 % bootstrap intervals; rows of failed slices are red. Metric: ",
      picker,
    ),
    body,
  );
}
