// The safety case page: the GSN graph of a model version's case, laid out by dagre
// (gsn_layout.ts) and drawn as SVG, each node filled by its status; a click on a node shows its
// reason, its SPI with the numbers and its trend across versions, and the evidence rows it
// cites (from /evidence/verdicts/{id}).
import { bandDatasets, draw, PALETTE, THRESHOLD } from "./charts";
import {
  getCase,
  getSpis,
  verdictEvidence,
  type Case,
  type CaseNode,
  type Evidence,
  type Spis,
} from "./api";
import { append, chartBox, el, section, table } from "./dom";
import { checkMeaning, interval, num } from "./format";
import {
  layoutCase,
  STATUS_COLOURS,
  statusColour,
  type CaseLayout,
  type Placed,
} from "./gsn_layout";
import { versionPicker, type View } from "./view";

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** The outline of a node by its GSN kind, in the node's own box (0, 0, w, h). */
function shape(n: Placed): SVGElement {
  const { width: w, height: h } = n;
  const common = {
    fill: statusColour(n.status),
    "fill-opacity": n.status === null ? 1 : 0.35,
    stroke: statusColour(n.status),
    "stroke-width": 2,
  };
  switch (n.kind) {
    case "strategy":
      return svg("polygon", { ...common, points: `12,0 ${w},0 ${w - 12},${h} 0,${h}` });
    case "solution":
      return svg("rect", { ...common, width: w, height: h, rx: h / 2, ry: h / 2 });
    case "assumption":
    case "justification":
      return svg("ellipse", { ...common, cx: w / 2, cy: h / 2, rx: w / 2, ry: h / 2 });
    case "context":
      return svg("rect", { ...common, width: w, height: h, rx: 12, ry: 12 });
    default:
      return svg("rect", { ...common, width: w, height: h });
  }
}

function markers(): SVGDefsElement {
  const defs = svg("defs", {});
  for (const [id, fill] of [
    ["arrow-supported", "#c9d3dd"],
    ["arrow-context", "none"],
  ]) {
    const marker = svg("marker", {
      id,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 8,
      markerHeight: 8,
      orient: "auto-start-reverse",
    });
    marker.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", fill, stroke: "#c9d3dd" }));
    defs.appendChild(marker);
  }
  return defs;
}

function drawGraph(laid: CaseLayout, onPick: (id: string) => void): SVGSVGElement {
  const root = svg("svg", {
    viewBox: `0 0 ${laid.width} ${laid.height}`,
    width: "100%",
    role: "img",
    "aria-label": "the safety case as a GSN graph",
  });
  root.style.maxWidth = `${Math.max(laid.width, 600)}px`;
  root.appendChild(markers());
  for (const e of laid.edges) {
    const d = e.points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
    root.appendChild(
      svg("path", {
        d,
        class: `gsn-edge ${e.kind}`,
        fill: "none",
        stroke: "#8a9aa8",
        "stroke-width": 1.2,
        "stroke-dasharray": e.kind === "inContextOf" ? "4 3" : "none",
        "marker-end": `url(#${e.kind === "inContextOf" ? "arrow-context" : "arrow-supported"})`,
      }),
    );
  }
  for (const n of laid.nodes) {
    const g = svg("g", {
      class: "gsn-node",
      transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})`,
      "data-id": n.id,
      "data-kind": n.kind,
      "data-status": n.status ?? "none",
      tabindex: 0,
    });
    g.appendChild(shape(n));
    const text = svg("text", { x: n.kind === "strategy" ? 16 : 10, y: 8, fill: "#eef2f5" });
    n.lines.forEach((line, i) => {
      const span = svg("tspan", { x: n.kind === "strategy" ? 16 : 10, dy: i ? 14 : 13 });
      span.textContent = line;
      if (i === 0) span.setAttribute("font-weight", "600");
      text.appendChild(span);
    });
    g.appendChild(text);
    if (n.undeveloped) {
      // GSN: an undeveloped element carries a hollow diamond below it
      const cx = n.width / 2;
      g.appendChild(
        svg("polygon", {
          points: `${cx},${n.height} ${cx + 7},${n.height + 7} ${cx},${n.height + 14} ${cx - 7},${n.height + 7}`,
          fill: "none",
          stroke: "#c9d3dd",
        }),
      );
    }
    const title = svg("title", {});
    title.textContent = `${n.id} (${n.kind}${n.status ? `, ${n.status}` : ""}): ${n.text}`;
    g.appendChild(title);
    g.addEventListener("click", () => onPick(n.id));
    g.addEventListener("keydown", (ev) => {
      if ((ev as KeyboardEvent).key === "Enter") onPick(n.id);
    });
    root.appendChild(g);
  }
  return root;
}

function legend(): HTMLElement {
  return el(
    "div",
    { class: "legend" },
    ...Object.entries(STATUS_COLOURS).map(([status, colour]) =>
      el("span", { class: "swatch", style: `--c:${colour}` }, status),
    ),
    el("span", { class: "swatch", style: `--c:${statusColour(null)}` }, "context, assumption"),
  );
}

function evidenceTable(rows: Evidence[]): HTMLTableElement {
  return table(
    ["row", "check", "slice", "metric", "value", "95 % interval", "threshold", "margin", "result"],
    rows.map((r) => ({
      cls: r.gated && r.passed === false ? "fail" : undefined, // a failed check or verdict
      attrs: { "data-evidence": String(r.id) },
      cells: [
        `#${r.id}`,
        { text: r.kind, title: checkMeaning(r.kind) },
        r.slice || "–",
        r.metric,
        num(r.value),
        interval(r.lo, r.hi),
        num(r.threshold),
        num(r.margin),
        r.passed === null ? "–" : r.passed ? "passed" : r.gated ? "FAILED" : "reported",
      ],
    })),
    { class: "evidence" },
  );
}

function spiTrend(node: string, spis: Spis): HTMLElement | null {
  const spi = spis.spis.find((s) => s.node === node);
  if (!spi || spi.points.length === 0) return null;
  const labels = spi.points.map((p) => p.model_version);
  const { box, canvas } = chartBox(`trend-${node}`, 200);
  draw(canvas, {
    type: "line",
    data: {
      labels,
      datasets: [
        ...bandDatasets(
          spi.metric,
          spi.points.map((p) => p.lo),
          spi.points.map((p) => p.hi),
        ),
        {
          label: `${spi.slice || "data"} ${spi.metric}`,
          data: spi.points.map((p) => p.value),
          borderColor: PALETTE[0],
          backgroundColor: spi.points.map((p) => statusColour(p.status)),
          pointRadius: 5,
          spanGaps: true,
        },
        {
          label: `threshold ${spi.comparator} ${spi.threshold}`,
          data: spi.points.map(() => spi.threshold),
          borderColor: THRESHOLD,
          borderDash: [6, 4],
          pointRadius: 0,
        },
      ],
    },
  });
  return box;
}

export const caseView: View = {
  title: "Safety case",
  async render(root, params, ctx) {
    const wanted = params.get("version");
    const [c, spis] = await Promise.all([getCase(wanted), getSpis(wanted)]);
    const picker = versionPicker(spis, c.model_version, (v) => ctx.go("case", { version: v }));
    root.append(
      el(
        "div",
        { class: "bar" },
        picker,
        summary(c),
        el("a", { href: `#/release?version=${encodeURIComponent(c.model_version)}` }, "release →"),
      ),
    );
    const laid = layoutCase(c.nodes, c.links);
    const detail = el(
      "aside",
      { id: "node-detail" },
      el("p", { class: "hint" }, "Click a node for its evidence."),
    );
    let evidence: Promise<Evidence[]> | null = null;
    const pick = (id: string): void => {
      for (const g of root.querySelectorAll<SVGGElement>("g.gsn-node")) {
        g.classList.toggle("picked", g.dataset.id === id);
      }
      const node = c.nodes.find((n) => n.id === id);
      if (!node) return;
      if (c.verdict && evidence === null) evidence = verdictEvidence(c.verdict.id);
      void showNode(detail, node, c, spis, evidence, pick);
    };
    root.append(
      legend(),
      el(
        "div",
        { class: "case-layout" },
        el("div", { class: "graph" }, drawGraph(laid, pick)),
        detail,
      ),
    );
    const first = params.get("node");
    if (first) pick(first);
  },
};

function summary(c: Case): HTMLElement {
  const verdict = c.verdict;
  return el(
    "span",
    { class: "summary" },
    el("strong", {}, c.case.name),
    ` for ${c.model_version}${c.champion ? " (champion)" : ""} · top claim `,
    el("b", { class: `status ${c.top_status}`, id: "top-status" }, c.top_status),
    verdict
      ? ` · gate verdict #${verdict.id} ${verdict.passed ? "passed" : verdict.bypassed ? "failed, bypassed" : "FAILED"} on suite ${verdict.suite_version.slice(0, 12)}`
      : " · no gate verdict yet",
    c.stale ? " · measured on an older suite" : "",
    c.case.undeveloped.length ? ` · open goals: ${c.case.undeveloped.join(", ")}` : "",
  );
}

async function showNode(
  detail: HTMLElement,
  node: CaseNode,
  c: Case,
  spis: Spis,
  evidence: Promise<Evidence[]> | null,
  pick: (id: string) => void,
): Promise<void> {
  const links = (ids: string[]) =>
    ids.length
      ? el(
          "span",
          {},
          ...ids.flatMap((id, i) => [i ? ", " : "", el("a", { href: "#", "data-node": id }, id)]),
        )
      : "–";
  const spi = node.spi;
  detail.replaceChildren();
  append(detail, [
    el("h2", {}, `${node.id} · ${node.kind}`),
    el("p", {}, node.text),
    node.status
      ? el(
          "p",
          {},
          el("b", { class: `status ${node.status}`, id: "node-status" }, node.status),
          " ",
          node.reason,
        )
      : null,
    el(
      "p",
      { class: "links" },
      "supported by: ",
      links(node.supported_by),
      el("br"),
      "in context of: ",
      links(node.in_context_of),
    ),
    spi
      ? section(
          "Safety performance indicator",
          "node-spi",
          table(
            ["slice", "metric", "needs", "value", "95 % interval", "gate threshold", "owner"],
            [
              {
                cls: spi.status === "violated" ? "fail" : undefined,
                cells: [
                  spi.slice || "–",
                  `${spi.metric} (${checkMeaning(spi.check)})`,
                  `${spi.comparator} ${spi.threshold}`,
                  num(spi.value),
                  interval(spi.lo, spi.hi),
                  num(spi.gate_threshold),
                  spi.owner,
                ],
              },
            ],
          ),
          spi.stale ? el("p", { class: "hint" }, "measured on an older suite version") : null,
          spiTrend(node.id, spis),
        )
      : null,
    node.gate === "verdict" && c.verdict
      ? el("p", {}, `cites gate verdict #${c.verdict.id}: ${c.verdict.summary.split("\n")[0]}`)
      : null,
  ]);
  for (const a of detail.querySelectorAll<HTMLAnchorElement>("a[data-node]")) {
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      pick(a.dataset.node ?? "");
    });
  }
  if (node.evidence_ids.length && evidence) {
    const wanted = new Set(node.evidence_ids);
    const rows = (await evidence).filter((r) => wanted.has(r.id));
    detail.append(section("Evidence", "node-evidence", evidenceTable(rows)));
  }
}
