"""Nothing a person saved is lost across a server kill: ``longtail backend serve`` (a real
process, on SQLite and on PostgreSQL) is SIGKILLed while annotators lease and save concurrently
over HTTP, then restarted on the same data. Every save that got a 2xx is there with its version
and content digest; no task is leased to two people; a save in flight at the kill is stored
whole (revision, label-set version and audit event together) or not at all; and after the
restart each person gets their own lease back and can go on saving from what was stored."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from backend.metadata.db import make_engine
from backend.metadata.migrate import upgrade
from benchmarks.task_api_load import Annotator, BackendProcess, labels_for, prepare, verify

CLIENTS = 6
#: acknowledged saves after which the server is killed (clients are mid-request by then)
KILL_AFTER = 40


@pytest.fixture
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> str:
    if db_url.startswith("sqlite"):  # the server's own file, not the fixture's
        url = f"sqlite:///{tmp_path / 'served.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    return db_url


@pytest.mark.slow
def test_a_killed_server_loses_no_acknowledged_save(tmp_path: Path, metadata_url: str) -> None:
    work = prepare(tmp_path / "backend", metadata_url, frames=60, annotators=CLIENTS)
    server = BackendProcess(work)
    server.start()
    stop = threading.Event()
    # many saves per lease: most of the time a client is saving, not leasing
    clients = [Annotator(work.api, name, token, saves=8) for name, token in work.tokens.items()]
    threads = [threading.Thread(target=c.run, args=(10**6, stop), daemon=True) for c in clients]
    for t in threads:
        t.start()
    logs = [c.log for c in clients]
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if sum(s.status == 200 for log in logs for s in log.saves) >= KILL_AFTER:
                break
            time.sleep(0.01)
        server.kill()  # SIGKILL mid-load: no shutdown code runs
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.kill()
    assert not any(t.is_alive() for t in threads)
    assert sum(bool(log.errors) for log in logs) >= CLIENTS // 2, "the kill reached no client"

    restarted = BackendProcess(work)
    restarted.start()
    try:
        verdict = verify(work.metadata_url, logs)
        assert verdict.ok, verdict
        assert verdict.acknowledged >= KILL_AFTER, verdict
        assert verdict.in_flight_stored + verdict.in_flight_absent >= 1, verdict
        # the leases survived: each client gets its own back and saves on from the stored version
        assert any(log.leases for log in logs), "no client held a lease when the server died"
        for log in logs:
            if not log.leases:
                continue  # under load this client got no lease before the kill: none to get back
            last = max(log.leases)
            headers = {"Authorization": f"Bearer {work.tokens[log.name]}"}
            with httpx.Client(base_url=work.api, headers=headers, timeout=30) as http:
                again = http.post("/work/next")
                assert again.status_code == 200, again.text
                lease = again.json()
                if last not in log.submitted and last != log.submit_in_flight:
                    assert lease["assignment_id"] == last, (log.name, lease["assignment_id"])
                current = lease["working"]["version"]
                saved = http.put(
                    f"/work/{lease['assignment_id']}/labels",
                    json={
                        "base_version": current,
                        "labels": labels_for(
                            lease["frames"][0]["id"], log.name, 999, lease["ontology"]
                        ),
                    },
                )
                assert saved.status_code == 200 and saved.json()["version"] == current + 1
    finally:
        restarted.stop()
