"""The labelling tool's speed in headless Chromium (software WebGL) on a 122k-point frame.

A one-frame drive of the ``urban`` scenario (64-beam sensor, about 122,000 points) becomes a
labelling task on ``longtail backend serve`` (SQLite, local blobs, loopback HTTP); Playwright
drives Debian's Chromium with SwiftShader WebGL (no GPU) and measures, in the page:

- ``open_to_first_render_ms``: from asking for the next task (``POST /work/next``) to the first
  frame with every point on screen (lease, task JSON, the points coarse level first, GPU
  upload, draw; the frame counts as shown at the animation frame after it was drawn), and
  ``open_to_coarse_render_ms`` to the first frame with the coarse level (one point per
  occupied voxel, ``backend.annotation.lod``; the page draws it only when the rest of the
  frame has not arrived with it). Each repeat reloads the page (the lease resumes), so nothing
  is cached in the page. Measured on loopback and on a link throttled by Chromium to
  ``--link-mbit`` Mbit/s with ``--link-rtt-ms`` of round trip (a labeller at home on a VPN);
- ``next_open_ms``: opening the next task after submitting one, with the next task's frame
  fetched ahead while the person worked (``annotator/src/prefetch.ts``) and, the baseline in
  the same page, with fetching ahead off (``?prefetch=off``), on loopback and the throttled
  link;
- ``orbit_fps``: frames per second while the perspective camera circles the scene for
  ``--orbit-s`` seconds, each animation frame re-rendering both views (perspective and top), and
  to show what limits it, the perspective view alone and both views without the points;
- ``points_bytes``, ``lod_bytes`` and ``js_heap_mb``: the frame's point buffer as it sits in
  the page and as it travels coarse level first (with the coarse level's indices), and the
  page's JavaScript heap after the load, and with the next task's frame held ahead
  (Chromium's ``performance.memory``).

Baseline in the same run, in the same page: the same points as JSON (``[[x, y, z, i], ...]``,
what a tool that sends points as JSON parses), timed from the text to a ``Float32Array``
(``json_decode_ms``), beside its size; the binary path needs no decoding at all.

Writes ``benchmarks/results/annotator.json``. Run:
``.venv/bin/python -m benchmarks.bench_annotator [--repeats 5] [--orbit-s 3] [--link-mbit 50]``
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from backend.annotation.lod import encode_lod
from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from simulators.drive import simulate_drive
from simulators.scenario import builtin_scenario
from tests.annotator.pages import log_in, wait_ready
from tests.annotator.server import Detection, running_backend
from tests.fixtures.browser import CHROMIUM, offline_page

if TYPE_CHECKING:
    from playwright.sync_api import Page

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "annotator.json"
GOAL_OPEN_MS = 1000.0
GOAL_FPS = 60.0

#: circle the camera for a while and count the frames drawn (in the page)
ORBIT_JS = """async ([seconds, variant]) => {
  const views = window.longtailSession.views;
  views.points.visible = variant !== "no_points";
  const camera = views.camera, target = views.controls.target;
  const radius = Math.hypot(camera.position.x - target.x, camera.position.y - target.y);
  const start = performance.now();
  let frames = 0;
  await new Promise((done) => {
    const step = (now) => {
      const a = ((now - start) / 1000) * 0.8;
      camera.position.set(target.x + radius * Math.cos(a), target.y + radius * Math.sin(a),
                          camera.position.z);
      camera.lookAt(target);
      if (variant === "perspective_only") views.renderer.render(views.scene, camera);
      else views.render();
      frames += 1;
      if (now - start < seconds * 1000) requestAnimationFrame(step); else done();
    };
    requestAnimationFrame(step);
  });
  views.points.visible = true;
  return frames / ((performance.now() - start) / 1000);
}"""

#: what the orbit frame rate is measured with: the tool as it is (both views), the perspective
#: view alone, and both views without the points (what the points cost)
ORBIT_VARIANTS = ("both_views", "perspective_only", "no_points")

#: the JSON baseline: the page's own points as JSON text, decoded as a JSON tool would
JSON_JS = """() => {
  const p = window.longtailSession.points;
  const rows = [];
  for (let i = 0; i < p.length; i += 4) rows.push([p[i], p[i + 1], p[i + 2], p[i + 3]]);
  const text = JSON.stringify(rows);
  const t0 = performance.now();
  const parsed = JSON.parse(text);
  const out = new Float32Array(parsed.length * 4);
  for (let i = 0; i < parsed.length; i++) out.set(parsed[i], 4 * i);
  return { ms: performance.now() - t0, bytes: text.length, n: out.length / 4 };
}"""


def simulated_frame(seed: int) -> tuple[npt.NDArray[np.float32], list[Detection]]:
    """One frame of the ``urban`` scenario and six of its objects as pre-labels (score 0.5:
    they only put boxes on screen; the measurements are about the points)."""
    points, labels = next(iter(simulate_drive(builtin_scenario("urban"), 1, seed)))
    shown = [o for o in labels.objects if o.class_name in ("car", "pedestrian", "cyclist")][:6]
    return points, [(o.class_name, 0.5, o.box) for o in shown]


def _since_open(page: Page, mark: str) -> float | None:
    """Milliseconds from the last ``openNext`` to the page's ``mark`` (None if it never came)."""
    value = page.evaluate(
        f"() => {{ const at = document.getElementById('view').dataset.{mark};"
        " return at ? Number(at) - Number(document.body.dataset.openAt) : null; }"
    )
    return None if value is None else float(value)


def _reload_opens(page: Page, repeats: int) -> dict[str, Any]:
    """Open the held task ``repeats`` times from a fresh page: full and coarse render times."""
    full: list[float] = []
    coarse: list[float] = []
    for _ in range(repeats):
        page.reload()
        wait_ready(page)
        page.wait_for_function("document.getElementById('view').dataset.firstPointsAt")
        full.append(_since_open(page, "firstPointsAt") or 0.0)
        shown = _since_open(page, "coarsePointsAt")
        if shown is not None:
            coarse.append(shown)
    return {"full": _stats(full), "coarse": _stats(coarse), "coarse_shown": len(coarse)}


def _next_opens(page: Page, url: str, repeats: int, prefetch: bool) -> dict[str, Any]:
    """Submit the open task and time opening the next one, ``repeats`` times, with fetching
    ahead on or off; where each opened task's points came from."""
    page.goto(f"{url}/app/" + ("" if prefetch else "?prefetch=off"))
    wait_ready(page)
    opens: list[float] = []
    sources: list[str] = []
    for _ in range(repeats):
        if prefetch:  # the person works for a while: the fetch ahead finishes meanwhile
            page.wait_for_function("document.body.dataset.prefetched", timeout=60_000)
        page.evaluate(
            "() => { document.body.dataset.ready = ''; delete document.body.dataset.prefetched; }"
        )
        page.click("#submit")
        wait_ready(page)
        page.wait_for_function("document.getElementById('view').dataset.firstPointsAt")
        opens.append(_since_open(page, "firstPointsAt") or 0.0)
        sources.append(str(page.evaluate("() => document.body.dataset.pointsFrom")))
    return {**_stats(opens), "points_from": sources}


def _stats(runs: list[float]) -> dict[str, Any]:
    if not runs:
        return {"runs": []}
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    points, detections = simulated_frame(args.seed)
    # a task for each next-task open, prefetched and not, on loopback and the throttled link
    tasks = 4 * args.repeats + 2
    link = {
        "offline": False,
        "latency": args.link_rtt_ms,
        "downloadThroughput": args.link_mbit * 1e6 / 8,
        "uploadThroughput": args.link_mbit * 1e6 / 8,
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-annotator-") as tmp,
        running_backend(
            Path(tmp),
            {"ann": "annotator"},
            points=points,
            detections=detections,
            tasks=tasks,
        ) as backend,
        offline_page(1400, 900, webgl=True) as offline,
    ):
        page = offline.page
        log_in(page, backend.url, "ann")
        renderer = page.evaluate(
            "() => { const gl = window.longtailSession.views.renderer.getContext();"
            " const d = gl.getExtension('WEBGL_debug_renderer_info');"
            " return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); }"
        )
        loopback = _reload_opens(page, args.repeats)
        heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : 0")
        page.wait_for_function("document.body.dataset.prefetched", timeout=60_000)
        page.evaluate("() => new Promise((r) => setTimeout(r, 500))")  # let a GC settle
        heap_ahead = page.evaluate(
            "() => performance.memory ? performance.memory.usedJSHeapSize : 0"
        )
        fps = {
            v: [float(page.evaluate(ORBIT_JS, [args.orbit_s, v])) for _ in range(3)]
            for v in ORBIT_VARIANTS
        }
        baseline = page.evaluate(JSON_JS)
        n = int(page.evaluate("() => window.longtailSession.points.length / 4"))
        next_loopback = {
            "prefetched": _next_opens(page, backend.url, args.repeats, prefetch=True),
            "not_prefetched": _next_opens(page, backend.url, args.repeats, prefetch=False),
        }
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", link)
        throttled = _reload_opens(page, args.repeats)
        next_throttled = {
            "prefetched": _next_opens(page, backend.url, args.repeats, prefetch=True),
            "not_prefetched": _next_opens(page, backend.url, args.repeats, prefetch=False),
        }
        assert offline.blocked == [], offline.blocked
    return {
        "points": n,
        "points_bytes": n * 16,
        "lod_bytes": len(encode_lod(points)),
        "open_to_first_render_ms": loopback["full"],
        "open_to_coarse_render_ms": loopback["coarse"],
        "coarse_shown": {
            "loopback": loopback["coarse_shown"],
            "throttled": throttled["coarse_shown"],
        },
        "throttled_link": {
            "mbit_s": args.link_mbit,
            "rtt_ms": args.link_rtt_ms,
            "open_to_first_render_ms": throttled["full"],
            "open_to_coarse_render_ms": throttled["coarse"],
            "next_open_ms": next_throttled,
        },
        "next_open_ms": next_loopback,
        "orbit_fps": {v: {"median": statistics.median(r), "runs": r} for v, r in fps.items()},
        "js_heap_mb": heap / 2**20,
        "js_heap_with_next_frame_mb": heap_ahead / 2**20,
        "baseline_json": {
            "bytes": int(baseline["bytes"]),
            "decode_ms": float(baseline["ms"]),
            "points": int(baseline["n"]),
        },
        "webgl_renderer": renderer,
        "goals": {"open_ms": GOAL_OPEN_MS, "fps": GOAL_FPS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--orbit-s", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--link-mbit", type=float, default=50.0, help="throttled link, Mbit/s")
    parser.add_argument("--link-rtt-ms", type=float, default=20.0, help="its round trip, ms")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.time()
    result = measure(args)
    result["machine"] = describe_machine(
        browser=CHROMIUM.name, headless=True, gl="SwiftShader (software)"
    )
    result["wall_s"] = time.time() - started
    result["provenance"] = provenance(["benchmarks.bench_annotator"], vars(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    o = result["open_to_first_render_ms"]["median"]
    f = result["orbit_fps"]["both_views"]["median"]
    t = result["throttled_link"]
    print(
        f"{args.link_mbit:.0f} Mbit/s link: coarse {t['open_to_coarse_render_ms'].get('median')} ms,"
        f" full {t['open_to_first_render_ms']['median']:.0f} ms; next task"
        f" {t['next_open_ms']['prefetched']['median']:.0f} ms prefetched,"
        f" {t['next_open_ms']['not_prefetched']['median']:.0f} ms not"
    )
    print(
        f"{result['points']} points: open to first render {o:.0f} ms (goal < {GOAL_OPEN_MS:.0f}),"
        f" orbit {f:.1f} fps (goal >= {GOAL_FPS:.0f}); JSON baseline decode "
        f"{result['baseline_json']['decode_ms']:.0f} ms for {result['baseline_json']['bytes']} B"
        f" vs {result['points_bytes']} B binary"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
