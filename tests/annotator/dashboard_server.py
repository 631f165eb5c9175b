"""A real backend process holding one turn of the loop, for the dashboards' browser tests.

The loop's history is built in-process by the real code (``tests.backend.ops.world``: a drive,
overlap labelling through the queue, a dataset version, two candidates through the shipped gate,
a canary and a promotion, then a ``stroller`` the suite does not hold captured on the champion,
labelled with the canary's frames) on a clock that starts two hours ago, with people who log in with a
password: the safety engineer ``safety`` and the annotator ``ann``. Then ``longtail backend
serve`` runs as a subprocess on the same SQLite file, blobs and signing key, with the shipped
safety case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from backend.auth.people import utcnow
from backend.config import load_config
from backend.wiring import build_backend
from tests.annotator.server import DIST, PASSWORD, free_port, serve_backend
from tests.backend.annotation.world import Clock, World
from tests.backend.ops.world import ROUTING, LoopHistory, build_loop, capture_discovery

#: the class of a field discovery captured after the promotion (the suite has no slice of it)
DISCOVERY = "stroller"
#: who logs in to the dashboards: name -> role
PEOPLE = {"safety": "safety_engineer", "ann": "annotator"}


@dataclass
class Dashboards:
    """The served backend, its loop history and its log."""

    url: str
    history: LoopHistory
    log: Path

    def api(self, name: str) -> httpx.Client:
        token = httpx.post(
            f"{self.url}/auth/login", json={"name": name, "password": PASSWORD}, timeout=10
        ).json()["token"]
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def _config(folder: Path, api_port: int) -> Path:
    config = folder / "backend.toml"
    config.write_text(
        f"[ingest]\nport = {free_port()}\n[api]\nport = {api_port}\n"
        f'[storage]\npath = "{folder / "blobs"}"\nstaging_path = "{folder / "staging"}"\n'
        f'[metadata]\nurl = "sqlite:///{folder / "meta.db"}"\n'
        f'[release]\nsigning_key_path = "{folder / "release" / "signing.key"}"\n'
        "[annotation]\ngold_share = 0.0\nspot_check_share = 0.0\nsettle_s = 0.0\nseed = 1\n"
        "calibration_tasks = 0\nmin_agreement = 0.5\n"
        + "".join(
            f'[[annotation.rules]]\nname = "{r.name}"\nwhen = "{r.when}"\ntier = {r.tier}\n'
            f"overlap = {r.overlap}\n"
            for r in ROUTING
        )
    )
    return config


@contextmanager
def dashboard_backend(folder: Path) -> Iterator[Dashboards]:
    """The served loop (module docstring), under ``folder``."""
    assert DIST.parent.joinpath("dashboard.html").is_file(), "run `make setup` (builds annotator/)"
    api_port = free_port()
    config = _config(folder, api_port)
    clock = Clock(utcnow() - timedelta(hours=2))
    backend = build_backend(load_config(config), clock=clock)
    try:
        (folder / "packages").mkdir()
        world = World(backend, clock)
        history = build_loop(world, folder / "packages")
        capture_discovery(world, history, DISCOVERY, 20_000.0)
        for name, role in PEOPLE.items():
            backend.people.create(name, role, password=PASSWORD)
    finally:
        backend.close()
    log = folder / "backend.log"
    with serve_backend(config, api_port, log) as url:
        yield Dashboards(url, history, log)
