// The SPIs page: every safety performance indicator's value across the gated model versions with
// its 95 % interval and its threshold, and the open ones (violated or challenged) of the chosen
// version with their owner, status and reason.
import { bandDatasets, draw, PALETTE, THRESHOLD } from "./charts";
import { getSpis, type Spis } from "./api";
import { chartBox, el, section, table } from "./dom";
import { checkMeaning, interval, num } from "./format";
import { statusColour } from "./gsn_layout";
import { versionPicker, type View } from "./view";

type Trend = Spis["spis"][number];

function trendCard(spi: Trend): HTMLElement {
  const { box, canvas } = chartBox(`spi-${spi.node}`, 180);
  const points = spi.points;
  draw(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => p.model_version),
      datasets: [
        ...bandDatasets(
          spi.metric,
          points.map((p) => p.lo),
          points.map((p) => p.hi),
        ),
        {
          label: "value",
          data: points.map((p) => p.value),
          borderColor: PALETTE[0],
          pointBackgroundColor: points.map((p) => statusColour(p.status)),
          pointRadius: 5,
          spanGaps: true,
        },
        {
          label: `threshold ${spi.comparator} ${spi.threshold}`,
          data: points.map(() => spi.threshold),
          borderColor: THRESHOLD,
          borderDash: [6, 4],
          pointRadius: 0,
        },
      ],
    },
    options: { plugins: { legend: { display: false } } },
  });
  const last = points[points.length - 1];
  return el(
    "article",
    { class: "spi", "data-node": spi.node, "data-status": last?.status ?? "none" },
    el("h3", {}, `${spi.node} · ${spi.slice || "data"} ${spi.metric}`),
    el(
      "p",
      { class: "hint" },
      `${checkMeaning(spi.check)} ${spi.comparator} ${spi.threshold} · owner ${spi.owner} · claims ${spi.claims.join(", ")}`,
    ),
    box,
    table(
      ["version", "value", "95 % interval", "status"],
      points.map((p) => ({
        cls: p.status === "violated" ? "fail" : undefined,
        cells: [
          p.model_version,
          num(p.value),
          interval(p.lo, p.hi),
          { text: p.status, cls: `status ${p.status}` },
        ],
      })),
      { class: "compact" },
    ),
  );
}

export const spisView: View = {
  title: "SPIs",
  async render(root, params, ctx) {
    const spis = await getSpis(params.get("version"));
    root.append(
      el(
        "div",
        { class: "bar" },
        versionPicker(spis, spis.model_version, (v) => ctx.go("spis", { version: v })),
        el(
          "span",
          { class: "summary" },
          `${spis.spis.length} indicators over ${spis.versions.length} gated versions (oldest first)`,
        ),
      ),
      section(
        `Open on ${spis.model_version ?? "–"}: ${spis.open.length} violated or challenged`,
        "open-spis",
        table(
          [
            "SPI",
            "slice",
            "metric",
            "status",
            "value",
            "95 % interval",
            "needs",
            "owner",
            "reason",
          ],
          spis.open.map((s) => ({
            cls: s.status === "violated" ? "fail" : undefined,
            cells: [
              s.node,
              s.slice || "–",
              s.metric,
              { text: s.status, cls: `status ${s.status}` },
              num(s.value),
              interval(s.lo, s.hi),
              `${s.comparator} ${s.threshold}`,
              s.owner,
              s.reason,
            ],
          })),
          { class: "compact" },
        ),
      ),
      el("div", { class: "spi-grid" }, ...spis.spis.map(trendCard)),
    );
  },
};
