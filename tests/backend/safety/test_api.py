"""``/safety`` over real HTTP with the shipped case and gate: who may read and who may sign off,
and the JSON the pages build on (case, SPI trend, release, snapshots and diff, SOTIF, report)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from backend.release.evidence import record_verdict
from backend.release.gate import load_gate
from backend.release.registry import register_baseline
from backend.safety.case import load_case
from backend.wiring import build_api
from tests.backend.annotation.world import World, make_world
from tests.backend.release.conftest import make_package
from tests.backend.safety.conftest import row, verdict_of
from tests.fixtures.http import serve

ROLES = ("annotator", "reviewer", "senior", "admin", "safety_engineer")
#: passes the shipped gate: recall up, deer learnt, fp and calibration steady
PASSING = [
    row("all", "recall", 0.5, 0.6),
    row("class:deer", "recall", 0.2, 0.5),
    row("all", "fp_per_frame", 1.0, 1.0),
    row("all", "ece", 0.1, 0.1),
]
#: fails it: dog recall lost
FAILING = [*PASSING[:1], row("class:dog", "recall", 0.5, 0.3), *PASSING[2:]]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[World, httpx.Client, dict[str, int]]]:
    w = make_world(tmp_path)
    for role in ROLES:
        w.person(role.replace("_", "-"), role)
    registry = w.backend.release.registry
    champion = register_baseline(registry).version
    (tmp_path / "packages").mkdir()
    verdicts = {}
    for version, rows in (("m-2", PASSING), ("m-3", FAILING)):
        w.clock.advance(60)
        registry.register(
            make_package(tmp_path / "packages", version),
            run_id=f"run-{version}",
            dataset_digest=None,
            parent_version=None,
            metrics={},
        )
        verdicts[version] = record_verdict(
            w.backend.db,
            verdict_of(version, champion, rows, gate=load_gate()),
            run_id=f"gate-{version}",
            at=w.clock(),
            details={},
        )
    with serve(build_api(w.backend)) as client:
        yield w, client, verdicts
    w.backend.close()


def auth(w: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w.tokens[role.replace('_', '-')]}"}


READS = (
    "/safety/case",
    "/safety/spis",
    "/safety/snapshots",
    "/safety/sotif",
    "/safety/releases/m-2",
    "/safety/releases/m-2/report.html",
)


def test_readers_read_and_labellers_do_not(api: tuple[World, httpx.Client, dict[str, int]]) -> None:
    w, client, _ = api
    for path in READS:
        for role in ("senior", "admin", "safety_engineer"):
            assert client.get(path, headers=auth(w, role)).status_code == 200, (path, role)
        for role in ("annotator", "reviewer"):
            refused = client.get(path, headers=auth(w, role))
            assert refused.status_code == 403 and role in refused.json()["detail"], (path, role)
        assert client.get(path).status_code == 401


def test_the_case_of_the_champion_and_of_a_candidate(
    api: tuple[World, httpx.Client, dict[str, int]],
) -> None:
    w, client, verdicts = api
    engineer = auth(w, "safety_engineer")
    champion = client.get("/safety/case", headers=engineer).json()
    case = load_case()
    assert champion["champion"] is True and champion["verdict"] is None
    assert champion["top_status"] == "challenged"  # never gated: nothing to stand on
    assert champion["case"] == {
        "name": "longtail-perception",
        "brief": case.brief,
        "source": "case.yaml",
        "digest": case.digest,
        "root": "G1",
        "undeveloped": ["G4_floor", "G4_new", "G7"],
    }
    assert len(champion["nodes"]) == len(case.nodes) == 72
    assert {"source": "G1", "target": "S1", "kind": "supportedBy"} in champion["links"]
    assert {"source": "G1", "target": "C1", "kind": "inContextOf"} in champion["links"]

    m2 = client.get("/safety/case", params={"model_version": "m-2"}, headers=engineer).json()
    assert m2["model_version"] == "m-2" and m2["champion"] is False
    assert m2["verdict"]["id"] == verdicts["m-2"] and m2["verdict"]["passed"] is True
    nodes = {n["id"]: n for n in m2["nodes"]}
    deer = nodes["Sn4_deer"]
    assert deer["kind"] == "solution" and deer["status"] == "supported"
    assert deer["spi"]["value"] == pytest.approx(0.3) and deer["spi"]["lo"] == pytest.approx(0.26)
    assert deer["spi"]["threshold"] == -0.05 and deer["spi"]["claims"] == ["G4_deer"]
    assert deer["evidence_ids"] == [deer["spi"]["evidence_id"]]
    assert nodes["Sn1"]["gate"] == "verdict" and nodes["Sn1"]["status"] == "supported"
    assert nodes["C1"]["status"] is None and nodes["G7"]["status"] == "undeveloped"
    assert nodes["Sn4_dog"]["status"] == "challenged"  # no dog in this suite
    m3 = client.get("/safety/case", params={"model_version": "m-3"}, headers=engineer).json()
    dog = next(n for n in m3["nodes"] if n["id"] == "Sn4_dog")
    assert dog["status"] == "violated" and m3["top_status"] == "violated"
    missing = client.get("/safety/case", params={"model_version": "m-9"}, headers=engineer)
    assert missing.status_code == 404 and "m-9" in missing.json()["detail"]
    bad = client.get("/safety/case", params={"model_version": "../x"}, headers=engineer)
    assert bad.status_code == 422


def test_the_spi_trend_and_open_indicators(
    api: tuple[World, httpx.Client, dict[str, int]],
) -> None:
    w, client, verdicts = api
    spis = client.get("/safety/spis", headers=auth(w, "senior")).json()
    assert [v["model_version"] for v in spis["versions"]] == ["m-2", "m-3"]
    assert [v["verdict_id"] for v in spis["versions"]] == [verdicts["m-2"], verdicts["m-3"]]
    # m-2's suite held no dog, stroller... frames: those indicators are missing, so challenged
    assert [v["top_status"] for v in spis["versions"]] == ["challenged", "violated"]
    by_node = {s["node"]: s for s in spis["spis"]}
    assert len(by_node) == 27
    floor = by_node["Sn2"]
    assert (floor["slice"], floor["metric"], floor["check"], floor["owner"]) == (
        "all",
        "recall",
        "floor",
        "perception-safety",
    )
    assert [p["value"] for p in floor["points"]] == [pytest.approx(0.6)] * 2
    assert [p["threshold"] for p in floor["points"]] == [0.4, 0.4]
    assert [p["gate_threshold"] for p in floor["points"]] == [0.4, 0.4]
    dog = by_node["Sn4_dog"]["points"]
    assert [(p["model_version"], p["status"]) for p in dog] == [
        ("m-2", "challenged"),
        ("m-3", "violated"),
    ]
    assert dog[1]["lo"] == pytest.approx(-0.24) and dog[1]["hi"] == pytest.approx(-0.16)
    # the champion (the baseline, never gated) has every indicator open
    assert spis["model_version"] == w.backend.release.registry.alias("champion").version  # type: ignore[union-attr]
    assert len(spis["open"]) == 27 and {o["status"] for o in spis["open"]} == {"challenged"}
    m3 = client.get("/safety/spis", params={"model_version": "m-3"}, headers=auth(w, "admin"))
    open_m3 = {o["node"]: o for o in m3.json()["open"]}
    assert open_m3["Sn4_dog"]["status"] == "violated" and open_m3["Sn4_dog"]["owner"]
    assert "Sn2" not in open_m3 and open_m3["Sn4_deer"]["status"] == "challenged"  # not measured


def test_release_sign_off_snapshot_diff_sotif_and_report(
    api: tuple[World, httpx.Client, dict[str, int]],
) -> None:
    w, client, verdicts = api
    engineer = auth(w, "safety_engineer")
    failed = client.get("/safety/releases/m-3", headers=engineer).json()
    assert failed["failed_slices"] == ["class:dog"] and failed["verdict"]["passed"] is False
    assert (
        failed["sign_off_blocker"]
        == f"gate verdict {verdicts['m-3']} failed and no admin bypassed it"
    )
    dog = next(c for c in failed["checks"] if c["slice"] == "class:dog")
    assert dog["kind"] == "no_regression" and dog["passed"] is False
    assert dog["value"] == pytest.approx(-0.2) and dog["threshold"] == -0.05
    refused = client.post(
        "/safety/releases/m-3/signoffs", json={"comment": "ship it"}, headers=engineer
    )
    assert refused.status_code == 409 and "class:dog" in refused.json()["detail"]
    for role in ("admin", "senior", "annotator"):
        denied = client.post(
            "/safety/releases/m-2/signoffs", json={"comment": "ok"}, headers=auth(w, role)
        )
        assert denied.status_code == 403, role
    assert (
        client.post("/safety/releases/m-2/signoffs", json={"comment": " "}, headers=engineer)
    ).status_code == 422

    w.backend.release.registry.promote("m-2", actor="admin")
    signed = client.post(
        "/safety/releases/m-2/signoffs", json={"comment": "evidence reviewed"}, headers=engineer
    )
    assert signed.status_code == 201, signed.text
    record = signed.json()
    snapshot = client.get("/safety/snapshots/m-2", headers=engineer).json()
    assert record["snapshot_id"] == snapshot["id"]
    assert record["snapshot_digest"] == snapshot["digest"]
    assert record["signed_by"] == "safety-engineer" and record["verdict_id"] == verdicts["m-2"]
    again = client.post(
        "/safety/releases/m-2/signoffs", json={"comment": "again"}, headers=engineer
    )
    assert again.status_code == 409

    release = client.get("/safety/releases/m-2", headers=engineer).json()
    assert release["champion"] is True and release["sign_off_blocker"] is None
    assert release["snapshot"]["digest"] == release["content_digest"] == snapshot["digest"]
    assert [s["comment"] for s in release["signoffs"]] == ["evidence reviewed"]
    assert snapshot["content"]["case_text"] == load_case().text
    assert snapshot["content"]["statuses"]["Sn4_deer"]["status"] == "supported"
    page = client.get("/safety/snapshots", headers=engineer).json()
    assert page["total"] == 2 and page["items"][0]["model_version"] == "m-2"
    champion = page["items"][1]["model_version"]
    diff = client.get(f"/safety/snapshots/{champion}/diff/m-2", headers=engineer).json()
    assert diff["top_status"] == {"before": "challenged", "after": "challenged"}
    assert {"id": "Sn4_deer", "before": "challenged", "after": "supported"} in diff[
        "status_changes"
    ]
    assert client.get("/safety/snapshots/m-3", headers=engineer).status_code == 404

    sotif = client.get("/safety/sotif", headers=engineer).json()
    assert sotif["model_version"] == "m-2" and sotif["verdict_id"] == verdicts["m-2"]
    deer = next(k for k in sotif["known"] if k["slice"] == "class:deer")
    assert deer["status"] == "supported" and deer["in_suite"] is True
    assert sotif["unknown"] == []  # no accepted labels in this world

    report = client.get("/safety/releases/m-2/report.html", headers=engineer)
    assert report.headers["content-type"].startswith("text/html")
    assert 'filename="longtail-safety-m-2.html"' in report.headers["content-disposition"]
    for text in (snapshot["digest"], "evidence reviewed", "<td class=n>0.3000</td>", "PASSED"):
        assert text in report.text, text
    assert client.get("/safety/releases/m-9/report.html", headers=engineer).status_code == 404
    # each model's own figure per slice, which the no-regression checks hold only as a difference
    deer = next(
        f for f in release["figures"] if (f["slice"], f["metric"]) == ("class:deer", "recall")
    )
    assert deer["candidate"]["value"] - deer["champion"]["value"] == pytest.approx(
        deer["difference"]["value"]
    )
    assert deer["champion"]["lo"] <= deer["champion"]["value"] <= deer["champion"]["hi"]
    assert deer["frames"] > 0 and deer["support"] > 0
    assert "Champion and candidate per slice" in report.text
    assert f"<td class=n>{deer['champion']['value']:.4f}</td>" in report.text


def test_sign_off_times_are_the_servers(api: tuple[World, httpx.Client, dict[str, int]]) -> None:
    w, client, _ = api
    w.clock.now = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    signed = client.post(
        "/safety/releases/m-2/signoffs",
        json={"comment": "ok", "signed_at": "1999-01-01T00:00:00Z"},
        headers=auth(w, "safety_engineer"),
    )
    assert signed.status_code == 422  # nothing but the comment is taken from the caller
    signed = client.post(
        "/safety/releases/m-2/signoffs", json={"comment": "ok"}, headers=auth(w, "safety_engineer")
    )
    assert signed.json()["signed_at"] == "2027-01-02T03:04:05Z"
