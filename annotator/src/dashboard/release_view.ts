// The release page: a model version's gate verdict against its champion, every check per slice
// (candidate − champion with its 95 % interval for no-regression checks, the candidate's own
// figure for floors), each model's own figure per slice (figures_view), failing slices in red
// with their numbers, the case's top status and the release snapshot, sign-off by a safety
// engineer with a comment, and the exported report.
import { draw, PALETTE, THRESHOLD } from "./charts";
import { ApiError } from "../api/client";
import { getRelease, getSpis, reportFile, signOff, type Evidence, type Release } from "./api";
import { chartBox, el, section, table } from "./dom";
import { figuresSection } from "./figures_view";
import { checkMeaning, failedCheck, groupBySlice, interval, num, signed } from "./format";
import { versionPicker, type View, type ViewContext } from "./view";

function figure(r: Evidence): string {
  return r.kind === "no_regression" ? signed(r.value) : num(r.value);
}

function verdictBlock(release: Release): HTMLElement {
  const v = release.verdict;
  if (!v)
    return el(
      "p",
      { id: "verdict", class: "verdict none" },
      "No release-gate verdict on this version.",
    );
  const word = v.passed ? "PASSED" : v.bypassed ? "FAILED, bypassed by an admin" : "FAILED";
  const who =
    v.model_version === v.champion_version
      ? `champion ${v.model_version} judged alone by the gate's floors and ceilings`
      : `candidate ${v.model_version} against champion ${v.champion_version}`;
  return el(
    "div",
    { id: "verdict", class: `verdict ${v.passed ? "passed" : "failed"}` },
    el("h2", {}, `Gate verdict #${v.id}: ${word}`),
    el(
      "p",
      {},
      `${who} on suite ${v.suite_version.slice(0, 12)}, ` +
        `training data ${v.dataset_digest.slice(0, 12)}, ${new Date(v.created_at).toLocaleString()}`,
    ),
    el(
      "p",
      {},
      "safety case top claim: ",
      el("b", { class: `status ${release.top_status}` }, release.top_status),
    ),
  );
}

function failedBlock(release: Release): HTMLElement | null {
  const failing = release.checks.filter(failedCheck); // the verdict's own row is not a check
  if (!failing.length) return null;
  return section(
    `Failing slices: ${release.failed_slices.join(", ") || "–"}`,
    "failed-slices",
    el(
      "ul",
      { class: "fail" },
      ...failing.map((r) =>
        el(
          "li",
          { "data-slice": r.slice, "data-metric": r.metric },
          el("b", {}, `${r.slice || "data"} ${r.metric}`),
          `: ${checkMeaning(r.kind)} ${figure(r)} ${interval(r.lo, r.hi)}, threshold ${num(r.threshold)}, margin ${signed(r.margin)}`,
        ),
      ),
    ),
  );
}

function deltaChart(release: Release, metric: string): HTMLElement | null {
  const rows = release.checks.filter(
    (r) => r.kind === "no_regression" && r.metric === metric && r.lo !== null && r.hi !== null,
  );
  if (!rows.length) return null;
  const { box, canvas } = chartBox("release-deltas", Math.max(160, 34 * rows.length + 60));
  const labels = rows.map((r) => r.slice);
  draw(canvas, {
    type: "bar",
    data: {
      labels,
      datasets: [
        {
          type: "bar",
          label: `${metric}: candidate − champion, 95 % interval`,
          data: rows.map((r) => [r.lo ?? 0, r.hi ?? 0] as [number, number]),
          backgroundColor: rows.map((r) =>
            failedCheck(r) ? "rgba(230, 57, 70, 0.7)" : "rgba(79, 163, 224, 0.55)",
          ),
          barThickness: 14,
        },
        {
          type: "line",
          label: "difference",
          data: rows.map((r) => r.value),
          showLine: false,
          pointRadius: 4,
          pointBackgroundColor: PALETTE[1],
          borderColor: PALETTE[1],
        },
        {
          type: "line",
          label: "threshold (lowest allowed difference)",
          data: rows.map((r) => r.threshold),
          showLine: false,
          pointStyle: "line",
          pointRadius: 10,
          borderColor: THRESHOLD,
          pointBorderWidth: 3,
        },
      ],
    },
    options: {
      indexAxis: "y",
      scales: { x: { title: { display: true, text: `${metric} difference` } } },
    },
  });
  return box;
}

function checksTable(release: Release): HTMLElement {
  const headers = ["metric", "figure", "value", "95 % interval", "threshold", "margin", "result"];
  const rows = groupBySlice(release.checks).flatMap(([slice, checks]) => [
    {
      cls: "group",
      cells: [{ text: slice || "training data", cls: "slice", span: headers.length }],
    },
    ...checks.map((r) => ({
      cls: failedCheck(r) ? "fail" : undefined,
      attrs: { "data-slice": r.slice, "data-metric": r.metric, "data-kind": r.kind },
      cells: [
        r.metric,
        { text: checkMeaning(r.kind), title: r.kind },
        figure(r),
        interval(r.lo, r.hi),
        num(r.threshold),
        signed(r.margin),
        r.passed === null ? "–" : r.passed ? "passed" : r.gated ? "FAILED" : "reported",
      ],
    })),
  ]);
  return table(headers, rows, { id: "checks", class: "numbers" });
}

function signOffBlock(release: Release, ctx: ViewContext): HTMLElement {
  const signed = release.signoffs.map((s) =>
    el(
      "li",
      { class: "signoff" },
      el("b", {}, s.signed_by),
      ` signed ${new Date(s.signed_at).toLocaleString()} (verdict #${s.verdict_id}, case ${s.case_digest.slice(0, 12)}): `,
      el("q", {}, s.comment),
    ),
  );
  const may = ctx.person.permissions.includes("sign_off_release");
  const mine = release.signoffs.some((s) => s.signed_by === ctx.person.name);
  const out = section("Sign-off", "signoff", el("ul", { id: "signoffs" }, ...signed));
  if (!signed.length) out.append(el("p", { class: "hint" }, "Not signed off yet."));
  if (release.sign_off_blocker) {
    out.append(
      el(
        "p",
        { class: "blocker", id: "signoff-blocker" },
        `Cannot be signed: ${release.sign_off_blocker}.`,
      ),
    );
  } else if (!may) {
    out.append(el("p", { class: "hint" }, "Only a safety engineer signs off a release."));
  } else if (mine) {
    out.append(el("p", { class: "hint" }, "You signed this release."));
  } else {
    const comment = el("textarea", {
      id: "signoff-comment",
      rows: "3",
      placeholder: "what you checked, and any condition",
    });
    const button = el("button", { id: "signoff-button", type: "submit" }, "Sign off this release");
    const error = el("p", { class: "error", id: "signoff-error", role: "alert" });
    const form = el("form", { id: "signoff-form" }, comment, button, error);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      button.disabled = true;
      signOff(release.model_version, comment.value)
        .then(() => ctx.go("release", { version: release.model_version }))
        .catch((err: unknown) => {
          button.disabled = false;
          error.textContent = err instanceof ApiError ? err.detail : String(err);
        });
    });
    out.append(form);
  }
  return out;
}

function reportButton(version: string): HTMLElement {
  const button = el(
    "button",
    { id: "report-button", type: "button" },
    "Download the report (HTML)",
  );
  const status = el("span", { class: "hint", id: "report-status" });
  button.addEventListener("click", () => {
    status.textContent = "preparing…";
    reportFile(version)
      .then(({ blob, name }) => {
        const url = URL.createObjectURL(blob);
        const a = el("a", { href: url, download: name });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        status.textContent = `${name} (${blob.size.toLocaleString()} bytes)`;
      })
      .catch((err: unknown) => {
        status.textContent = err instanceof ApiError ? err.detail : String(err);
      });
  });
  return el("span", {}, button, " ", status);
}

export const releaseView: View = {
  title: "Release",
  async render(root, params, ctx) {
    const spis = await getSpis(null);
    const gated = spis.versions;
    const version =
      params.get("version") ??
      gated.find((v) => v.champion)?.model_version ??
      gated[gated.length - 1]?.model_version ??
      null;
    if (version === null) {
      root.append(el("p", {}, "No model version has a release-gate verdict yet."));
      return;
    }
    const release = await getRelease(version);
    const snapshot = release.snapshot;
    root.append(
      el(
        "div",
        { class: "bar" },
        versionPicker(spis, version, (v) => ctx.go("release", { version: v })),
        el("a", { href: `#/case?version=${encodeURIComponent(version)}` }, "safety case →"),
        reportButton(version),
      ),
      verdictBlock(release),
    );
    const failed = failedBlock(release);
    if (failed) root.append(failed);
    const chart = deltaChart(release, "recall");
    root.append(
      el(
        "div",
        { class: "columns" },
        section(
          "Candidate against champion, per slice",
          "per-slice",
          el(
            "p",
            { class: "hint" },
            "No-regression checks store the paired difference candidate − champion with its 95 % bootstrap interval; a floor stores the candidate's own figure.",
          ),
          chart,
          checksTable(release),
          figuresSection(release),
        ),
        el(
          "div",
          {},
          section(
            "Release",
            "snapshot",
            el(
              "p",
              {},
              release.champion ? `${version} is the champion. ` : "",
              snapshot
                ? `Snapshot #${snapshot.id} of case ${snapshot.case_name} taken ${new Date(snapshot.created_at).toLocaleString()}, content ${snapshot.digest.slice(0, 16)}…`
                : `Not released; content digest now ${release.content_digest.slice(0, 16)}…`,
            ),
          ),
          signOffBlock(release, ctx),
        ),
      ),
    );
  },
};
