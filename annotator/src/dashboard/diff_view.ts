// The release diff: two released versions picked from their snapshots (the case as it stood when
// each was promoted), and what changed from the earlier to the later: the case file's digest,
// the top claim's status, nodes added, removed and changed, links, node status changes and the
// SPIs' figures (value, interval, threshold, status).
import { getDiff, getSnapshots, type Diff } from "./api";
import { el, section, table } from "./dom";
import { interval, num } from "./format";
import { statusName } from "./sotif_groups";
import type { View } from "./view";

type Snapshot = Awaited<ReturnType<typeof getSnapshots>>["items"][number];
type SpiChange = Diff["spi_changes"][number];

function picker(id: string, label: string, snaps: Snapshot[], value: string): HTMLSelectElement {
  const select = el("select", { id, "aria-label": label });
  for (const s of snaps) {
    const at = new Date(s.created_at).toLocaleString();
    select.append(new Option(`${s.model_version} · ${s.top_status} · ${at}`, s.model_version));
  }
  select.value = value;
  return select;
}

function badge(status: string | null): HTMLElement {
  return el("span", { class: `status ${status ?? "none"}` }, statusName(status));
}

function beforeAfter(before: Node | string, after: Node | string): HTMLElement {
  return el("span", {}, before, " → ", after);
}

function spiFigures(side: Record<string, unknown>): string {
  const n = (k: string) => (typeof side[k] === "number" ? (side[k] as number) : null);
  const status = typeof side.status === "string" ? side.status : "–";
  const figures = `${num(n("value"))} ${interval(n("lo"), n("hi"))}`;
  return `${figures} (threshold ${num(n("threshold"))}, ${status})`;
}

function spiRow(s: SpiChange) {
  const worse = s.after.status === "violated" && s.before.status !== "violated";
  return {
    cls: worse ? "fail" : undefined,
    attrs: { "data-node": s.id },
    cells: [
      s.id,
      s.slice || "–",
      s.metric,
      s.fields.join(", "),
      spiFigures(s.before),
      spiFigures(s.after),
    ],
  };
}

/** ``2 added, 0 removed, 1 changed`` (nodes). */
function nodeCounts(diff: Diff): string {
  const { nodes_added: a, nodes_removed: r, nodes_changed: c } = diff;
  return `${a.length} nodes added, ${r.length} removed, ${c.length} changed`;
}

/** A changed field's value as JSON text (``undefined`` when the side lacks it). */
function show(value: unknown): string {
  return value === undefined ? "undefined" : JSON.stringify(value);
}

function render(diff: Diff): HTMLElement[] {
  const none = (what: string) => el("p", { class: "hint" }, `no ${what}`);
  return [
    section(
      "What changed",
      "diff-summary",
      el(
        "p",
        {},
        "from the case released with ",
        el("b", {}, diff.base),
        " to the one released with ",
        el("b", {}, diff.target),
      ),
      el(
        "p",
        { id: "diff-case" },
        diff.case_changed ? "the case file changed: " : "the case file is the same: ",
        el("span", { class: "digest" }, diff.case_digest.before.slice(0, 16)),
        diff.case_changed
          ? el(
              "span",
              {},
              " → ",
              el("span", { class: "digest" }, diff.case_digest.after.slice(0, 16)),
            )
          : null,
      ),
      el(
        "p",
        { id: "diff-top" },
        "top claim: ",
        beforeAfter(badge(diff.top_status.before), badge(diff.top_status.after)),
      ),
      el(
        "p",
        { class: "summary" },
        `${nodeCounts(diff)}; ` +
          `${diff.links_added.length} links added, ${diff.links_removed.length} removed; ` +
          `${diff.status_changes.length} status changes; ${diff.spi_changes.length} SPI changes`,
      ),
    ),
    section(
      `Status changes (${diff.status_changes.length})`,
      "diff-statuses",
      diff.status_changes.length
        ? table(
            ["node", "before", "after"],
            diff.status_changes.map((c) => ({
              cls: c.after === "violated" ? "fail" : undefined,
              attrs: {
                "data-node": c.id,
                "data-before": statusName(c.before),
                "data-after": statusName(c.after),
              },
              cells: [c.id, { text: badge(c.before) }, { text: badge(c.after) }],
            })),
            { class: "compact" },
          )
        : none("status change"),
    ),
    section(
      `SPI changes (${diff.spi_changes.length})`,
      "diff-spis",
      diff.spi_changes.length
        ? table(
            ["SPI", "slice", "metric", "changed", "before", "after"],
            diff.spi_changes.map(spiRow),
            { class: "compact" },
          )
        : none("SPI change"),
    ),
    section(
      `Nodes: ${nodeCounts(diff)}`,
      "diff-nodes",
      diff.nodes_added.length + diff.nodes_removed.length + diff.nodes_changed.length
        ? table(
            ["change", "node", "kind", "text / fields"],
            [
              ...diff.nodes_added.map((n) => ({
                attrs: { "data-node": n.id, "data-change": "added" },
                cells: ["added", n.id, n.kind, n.text],
              })),
              ...diff.nodes_removed.map((n) => ({
                attrs: { "data-node": n.id, "data-change": "removed" },
                cells: ["removed", n.id, n.kind, n.text],
              })),
              ...diff.nodes_changed.map((n) => ({
                attrs: { "data-node": n.id, "data-change": "changed" },
                cells: [
                  "changed",
                  n.id,
                  "",
                  n.fields
                    .map((f) => `${f}: ${show(n.before[f])} → ${show(n.after[f])}`)
                    .join("; "),
                ],
              })),
            ],
            { class: "compact" },
          )
        : none("node added, removed or changed"),
      diff.links_added.length + diff.links_removed.length
        ? table(
            ["change", "from", "to", "kind"],
            [
              ...diff.links_added.map((l) => ({ cells: ["added", l.source, l.target, l.kind] })),
              ...diff.links_removed.map((l) => ({
                cells: ["removed", l.source, l.target, l.kind],
              })),
            ],
            { class: "compact", id: "diff-links" },
          )
        : none("link added or removed"),
    ),
  ];
}

export const diffView: View = {
  title: "Release diff",
  async render(root, params, ctx) {
    const snaps = (await getSnapshots()).items; // newest first
    if (snaps.length < 2) {
      root.append(
        el(
          "p",
          { class: "hint", id: "diff-empty" },
          `${snaps.length} release(s) so far: a diff needs two.`,
        ),
      );
      return;
    }
    const base = params.get("base") ?? snaps[1].model_version;
    const target = params.get("target") ?? snaps[0].model_version;
    const from = picker("diff-base", "earlier release", snaps, base);
    const to = picker("diff-target", "later release", snaps, target);
    const button = el("button", { id: "diff-button" }, "Compare");
    button.addEventListener("click", () => ctx.go("diff", { base: from.value, target: to.value }));
    root.append(
      el(
        "div",
        { class: "bar" },
        el("label", {}, "from ", from),
        el("label", {}, "to ", to),
        button,
      ),
      ...render(await getDiff(base, target)),
    );
  },
};
