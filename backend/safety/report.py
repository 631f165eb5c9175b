"""The release report: one self-contained HTML file per model version, for regulatory records.

Pure string building with HTML escaping (no template engine, no external asset: the style is
inline, there are no scripts, fonts, images or links to fetch), so the file reads the same offline
in ten years. It shows: the model and its gate verdict with every digest (training data, suite,
case YAML, case snapshot), the case tree with each node's status and reason, every SPI with its
value, interval, own threshold and the gate's, every gate check (candidate against champion per
slice: the candidate's figure for floors and ceilings, the paired difference candidate - champion
for no-regression checks), each model's own figure with its interval per slice and metric, and
the sign-offs.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.metadata.repositories.evidence import EvidenceRecord
from backend.metadata.repositories.safety import SignOffRecord, SnapshotRecord
from backend.safety.gsn import NodeKind
from backend.safety.spi import Assessment

_COLOURS = {
    "supported": "#1b7f3b",
    "violated": "#b3261e",
    "challenged": "#b26a00",
    "undeveloped": "#5f6368",
    None: "#5f6368",
}
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#202124;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.st{color:#fff;border-radius:3px;padding:0 5px;font-size:.85em;white-space:nowrap}
ul.tree{list-style:none;padding-left:1.2em;border-left:1px dotted #bbb}
ul.tree.top{border:none;padding-left:0}.kind{color:#5f6368;font-size:.85em}
.ctx{color:#5f6368;font-size:.9em;margin-left:1.5em}code{font-size:.9em}
.fail{background:#fdecea}
"""


@dataclass(frozen=True)
class ReleaseView:
    """Everything about one release: the case judged on the version's newest verdict, that
    verdict's evidence rows, the stored snapshot (None before the version is released), the
    digest of the case content (the snapshot's, or of the content as it stands now) and the
    sign-offs."""

    assessment: Assessment
    rows: Sequence[EvidenceRecord]
    snapshot: SnapshotRecord | None
    content_digest: str
    signoffs: Sequence[SignOffRecord]

    @property
    def model_version(self) -> str:
        return self.assessment.model_version


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _interval(lo: float | None, hi: float | None) -> str:
    return "—" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"


def _badge(status: str | None) -> str:
    label = status or "no status"
    return (
        f'<span class="st" style="background:{_COLOURS.get(status, "#5f6368")}">{_e(label)}</span>'
    )


def _tree(view: ReleaseView, node_id: str, seen: tuple[str, ...]) -> str:
    case, a = view.assessment.case, view.assessment
    node = case.node(node_id)
    status = a.nodes[node_id]
    parts = [
        f"<li>{_badge(None if status.status is None else status.status.value)} "
        f"<b>{_e(node.id)}</b> <span class=kind>{_e(node.kind.value)}</span> {_e(node.text)}"
        f"<div class=ctx>{_e(status.reason)}</div>"
    ]
    for ctx in node.in_context_of:
        c = case.node(ctx)
        parts.append(
            f"<div class=ctx>in context of {_e(c.id)} ({_e(c.kind.value)}): {_e(c.text)}</div>"
        )
    if node.supported_by and node_id not in seen:
        children = "".join(_tree(view, child, (*seen, node_id)) for child in node.supported_by)
        parts.append(f'<ul class="tree">{children}</ul>')
    parts.append("</li>")
    return "".join(parts)


def _spi_table(view: ReleaseView) -> str:
    rows = []
    for r in view.assessment.spis.values():
        s = r.spi
        rows.append(
            "<tr>"
            f"<td>{_e(s.node)}</td><td>{_e(', '.join(r.claims))}</td><td><code>{_e(s.slice or '—')}</code></td>"
            f"<td><code>{_e(s.metric)}</code></td><td>{_e(s.check)}</td>"
            f"<td class=n>{_num(r.value)}</td><td class=n>{_interval(r.lo, r.hi)}</td>"
            f"<td class=n>{_e(s.comparator)} {_e(f'{s.threshold:g}')}</td>"
            f"<td class=n>{_num(r.gate_threshold)}</td><td>{_badge(r.status.value)}</td>"
            f"<td>{_e(s.owner)}</td><td>{_e('—' if r.evidence_id is None else r.evidence_id)}</td>"
            f"<td>{_e(r.reason)}</td></tr>"
        )
    head = (
        "<tr><th>node</th><th>claims</th><th>slice</th><th>metric</th><th>check</th><th>value</th>"
        "<th>95 % interval</th><th>SPI threshold</th><th>gate threshold</th><th>status</th>"
        "<th>owner</th><th>evidence</th><th>reason</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _checks_table(rows: Sequence[EvidenceRecord]) -> str:
    out = []
    for r in rows:
        if r.kind in ("verdict", "bypass"):
            continue
        passed = "—" if r.passed is None else ("passed" if r.passed else "FAILED")
        cls = ' class="fail"' if r.passed is False and r.gated else ""
        measure = "candidate - champion" if r.kind == "no_regression" else "candidate"
        out.append(
            f"<tr{cls}><td>{_e(r.id)}</td><td><code>{_e(r.slice or '(data)')}</code></td>"
            f"<td><code>{_e(r.metric)}</code></td><td>{_e(r.kind)}</td><td>{_e(measure)}</td>"
            f"<td class=n>{_num(r.value)}</td><td class=n>{_interval(r.lo, r.hi)}</td>"
            f"<td class=n>{_num(r.threshold)}</td><td class=n>{_num(r.margin)}</td>"
            f"<td>{_e(passed)}{'' if r.gated else ' (reported only)'}</td></tr>"
        )
    head = (
        "<tr><th>evidence</th><th>slice</th><th>metric</th><th>check</th><th>figure</th>"
        "<th>value</th><th>95 % interval</th><th>threshold</th><th>margin</th><th>result</th></tr>"
    )
    return f"<table>{head}{''.join(out)}</table>"


def _figures_table(details: Mapping[str, Any]) -> str:
    """Champion and candidate side by side per slice and metric (the comparison the gate judged);
    rows of failed slices are marked."""
    figures = details.get("figures", [])
    if not figures:
        return (
            "<p>No per-model figures: a champion judged alone (its checks hold its figures), or "
            "a verdict recorded before they were kept.</p>"
        )
    failed = set(details.get("failed_slices", []))
    out = []
    for f in figures:
        ch, ca, d = f["champion"], f["candidate"], f["difference"]
        cls = ' class="fail"' if f["slice"] in failed else ""
        out.append(
            f"<tr{cls}><td><code>{_e(f['slice'])}</code></td><td><code>{_e(f['metric'])}</code></td>"
            f"<td class=n>{_num(ch['value'])}</td><td class=n>{_interval(ch['lo'], ch['hi'])}</td>"
            f"<td class=n>{_num(ca['value'])}</td><td class=n>{_interval(ca['lo'], ca['hi'])}</td>"
            f"<td class=n>{_num(d['value'])}</td><td class=n>{_e(f['frames'])}</td>"
            f"<td class=n>{_e(f['support'])}</td></tr>"
        )
    head = (
        "<tr><th>slice</th><th>metric</th><th>champion</th><th>95 % interval</th>"
        "<th>candidate</th><th>95 % interval</th><th>difference</th><th>frames</th>"
        "<th>support</th></tr>"
    )
    return f"<table>{head}{''.join(out)}</table>"


def _signoffs(view: ReleaseView) -> str:
    if not view.signoffs:
        return "<p>No sign-off recorded.</p>"
    rows = "".join(
        f"<tr><td>{_e(s.signed_by)}</td><td>{_e(s.signed_at.isoformat())}</td>"
        f"<td><code>{_e(s.snapshot_digest)}</code></td><td>{_e(s.verdict_id)}</td>"
        f"<td>{_e(s.comment)}</td></tr>"
        for s in view.signoffs
    )
    head = "<tr><th>signed by</th><th>at</th><th>case snapshot digest</th><th>verdict</th><th>comment</th></tr>"
    return f"<table>{head}{rows}</table>"


def render_report(view: ReleaseView, generated_at: datetime) -> str:
    """The whole report as one HTML document (module docstring)."""
    a = view.assessment
    case, verdict = a.case, a.verdict
    facts: list[tuple[str, str]] = [
        ("model version", view.model_version),
        ("case", f"{case.name} ({case.source})"),
        ("case YAML digest (SHA-256)", case.digest),
        ("case snapshot digest (SHA-256)", view.content_digest),
        (
            "snapshot",
            "none: the version was not released"
            if view.snapshot is None
            else f"{view.snapshot.id}, taken {view.snapshot.created_at.isoformat()} by "
            f"{view.snapshot.created_by}",
        ),
        ("current suite", a.current_suite or "—"),
    ]
    if verdict is not None:
        facts += [
            (
                "gate verdict",
                f"{verdict.id} (run {verdict.run_id}), {verdict.created_at.isoformat()}",
            ),
            (
                "result",
                "PASSED"
                if verdict.passed
                else ("FAILED, bypassed by an admin" if verdict.bypassed else "FAILED"),
            ),
            ("against champion", verdict.champion_version),
            ("suite version", verdict.suite_version),
            ("training data digest", verdict.dataset_digest),
        ]
    else:
        facts.append(("gate verdict", "none: the version was never gated"))
    fact_rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in facts)
    open_items = ", ".join(case.undeveloped) or "none"
    contexts = "".join(
        f"<li><b>{_e(n.id)}</b> <span class=kind>{_e(n.kind.value)}</span> {_e(n.text)}</li>"
        for n in case
        if n.kind in (NodeKind.CONTEXT, NodeKind.ASSUMPTION, NodeKind.JUSTIFICATION)
    )
    summary = "" if verdict is None else f"<pre>{_e(verdict.summary)}</pre>"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>Safety report: {_e(view.model_version)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Safety case report: model {_e(view.model_version)} {_badge(a.top.value)}</h1>"
        f"<p>{_e(case.brief)}</p><table>{fact_rows}</table>"
        f"<h2>Case ({_e(len(case.nodes))} nodes; open: {_e(open_items)})</h2>"
        f'<ul class="tree top">{_tree(view, case.root, ())}</ul>'
        f"<h2>Context, assumptions, justifications</h2><ul>{contexts}</ul>"
        f"<h2>Safety performance indicators</h2>{_spi_table(view)}"
        f"<h2>Release gate: candidate against champion per slice</h2>{summary}"
        f"{_checks_table(view.rows)}"
        "<h2>Champion and candidate per slice</h2>"
        f"{'' if verdict is None else _figures_table(verdict.details)}"
        f"<h2>Sign-off</h2>{_signoffs(view)}"
        f"<p class=kind>Generated {_e(generated_at.isoformat())} by Longtail.</p>"
        "</body></html>\n"
    )
