// The SOTIF page (ISO 21448) of a model version: the known area (the triggering conditions the
// edge-case suite holds, by kind, each coloured by the status of the SPIs arguing over it, with
// the gate's checks on it) and the unknown area (field discoveries: classes of captured,
// accepted labels that the suite does not cover yet, waiting to be added to it).
import { getSotif, getSpis, type Condition, type Discovery, type Sotif } from "./api";
import { el, section, table } from "./dom";
import { checkMeaning, interval, num, signed } from "./format";
import { statusColour } from "./gsn_layout";
import { groupByKind, statusWord } from "./sotif_groups";
import { versionPicker, type View } from "./view";

type Check = Condition["checks"][number];

function checkFigure(c: Check): string {
  return c.kind === "no_regression" ? signed(c.value) : num(c.value);
}

function conditionTile(c: Condition): HTMLElement {
  const word = statusWord(c);
  const facts = [
    c.in_suite ? "in the current suite" : "not in the current suite",
    c.gate_passed === null ? "not gated" : c.gate_passed ? "gate passed" : "gate FAILED",
    c.spis.length ? `SPIs ${c.spis.join(", ")}` : "no SPI argues over it",
    c.accepted_objects === null ? null : `${c.accepted_objects} accepted objects`,
  ].filter((f): f is string => f !== null);
  return el(
    "article",
    {
      class: "condition",
      "data-slice": c.slice,
      "data-status": word,
      style: `--c:${statusColour(c.status)}`,
    },
    el(
      "h3",
      {},
      c.slice,
      " ",
      el("span", { class: `status ${c.status ?? "none"}`, "data-role": "status" }, word),
    ),
    el("p", { class: "hint" }, facts.join(" · ")),
    c.checks.length
      ? table(
          ["check", "value", "95 % interval", "threshold", "result"],
          c.checks.map((k) => ({
            cls: k.passed === false ? "fail" : undefined,
            attrs: { "data-evidence": String(k.evidence_id), "data-metric": k.metric },
            cells: [
              `${k.metric}: ${checkMeaning(k.kind)}`,
              checkFigure(k),
              interval(k.lo, k.hi),
              num(k.threshold),
              k.passed === null ? "reported" : k.passed ? "passed" : "FAILED",
            ],
          })),
          { class: "compact" },
        )
      : el("p", { class: "hint" }, "the gate measured nothing on it"),
  );
}

function knownArea(known: Condition[]): HTMLElement {
  const groups = groupByKind(known);
  return section(
    `Known area: ${known.length} triggering conditions`,
    "sotif-known",
    el(
      "p",
      { class: "hint" },
      "Slices of the edge-case suite that name a triggering condition, coloured by the worst status of the SPIs arguing over them.",
    ),
    ...groups.map((g) =>
      el(
        "div",
        { class: "kind-group", "data-kind": g.kind },
        el(
          "h3",
          {},
          `${g.kind} (${g.conditions.length}): `,
          Object.entries(g.counts)
            .map(([word, n]) => `${n} ${word}`)
            .join(", "),
        ),
        el("div", { class: "condition-grid" }, ...g.conditions.map(conditionTile)),
      ),
    ),
    known.length ? null : el("p", { class: "hint" }, "no triggering condition measured or argued"),
  );
}

function when(at: string | null): string {
  return at ? new Date(at).toLocaleString() : "–";
}

function unknownArea(unknown: Discovery[]): HTMLElement {
  const objects = unknown.reduce((sum, d) => sum + d.objects, 0);
  return section(
    `Unknown area: ${unknown.length} field discoveries, ${objects} objects`,
    "sotif-unknown",
    el(
      "p",
      { class: "hint" },
      "Classes of captured, accepted labels that the current suite does not cover: they wait to be added to it.",
    ),
    unknown.length
      ? table(
          ["class", "objects", "frames", "tasks", "vehicles", "first accepted", "last accepted"],
          unknown.map((d) => ({
            attrs: { "data-class": d.class_name },
            cells: [
              d.class_name,
              d.objects,
              d.frames,
              d.tasks,
              d.vehicles.join(", "),
              when(d.first_accepted),
              when(d.last_accepted),
            ],
          })),
          { class: "compact numbers" },
        )
      : el("p", { class: "hint" }, "no discovery waiting: the suite covers every captured class"),
  );
}

/** Which verdict and suite the view reads, and the current suite when it is another. */
function suiteLine(sotif: Sotif): string {
  const suite = (sotif.suite_version ?? "–").slice(0, 12);
  const current = sotif.current_suite;
  const other =
    current && current !== sotif.suite_version ? ` (current suite ${current.slice(0, 12)})` : "";
  return `gate verdict #${sotif.verdict_id} on suite ${suite}${other}`;
}

export const sotifView: View = {
  title: "SOTIF",
  async render(root, params, ctx) {
    const wanted = params.get("version");
    const [sotif, spis] = await Promise.all([getSotif(wanted), getSpis(wanted)]);
    root.append(
      el(
        "div",
        { class: "bar" },
        versionPicker(spis, sotif.model_version, (v) => ctx.go("sotif", { version: v })),
        el(
          "span",
          { class: "summary", id: "sotif-summary" },
          sotif.verdict_id === null
            ? "no gate verdict on this version"
            : suiteLine(sotif),
        ),
      ),
      unknownArea(sotif.unknown),
      knownArea(sotif.known),
    );
  },
};
