"""Fleet simulator: N vehicle processes, each uploading with the agent's own uploader.

Used by ``benchmarks/bench_ingest.py``. Two steps, so the vehicle processes stay light (they
import grpc, the wire contracts and ``agent.upload``, not numpy or the codec)::

    prepare_fleet(out_dir, vehicles, frames_per_vehicle, num_points)   # spool records on disk
    results = run_fleet(target, tokens, out_dir)                      # one process per vehicle

``prepare_fleet`` writes each vehicle's frames as spool files (``agent.spool.record`` format:
codec-encoded payload, metadata, checksum). A vehicle process (``python -m simulators.fleet
VEHICLE_DIR TARGET``) reads its token from stdin, says ``ready`` on stdout and waits for ``go``
on stdin, so the whole fleet starts uploading at once however long N interpreters take to start.
It then delivers each record with ``agent.upload.client.IngestClient`` -- the client the vehicle
daemon runs: QueryOffset, one stream from the committed offset, 256 KiB chunks, no bandwidth
cap -- retrying ``TransientUploadError`` after the agent's full-jitter ``Backoff`` (the daemon's
``UploadWorker`` retry policy, without its on-disk spool), and writes a JSON report: per frame
its id, outcome, attempts and time to acknowledgement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: payload slice per stream message: the agent's default ``upload.chunk_bytes``
CHUNK_BYTES = 256 * 1024
#: seconds each RPC may take, and the retry backoff (base, cap) of a vehicle, seconds
RPC_TIMEOUT_S = 120.0
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0
#: delivery attempts per frame before a vehicle reports it failed
ATTEMPTS = 8
#: file suffix of a prepared frame (the agent spool's)
RECORD_SUFFIX = ".ltf"


@dataclass(frozen=True)
class FrameResult:
    """One frame's delivery as a vehicle saw it.

    ``status``: ``stored`` / ``already_stored`` (``agent.upload.client.Delivered``) or
    ``failed_transient`` / ``failed_permanent`` with the client's message in ``error``.
    ``seconds_to_ack`` runs from the first request to the acknowledgement, retries included.
    """

    vehicle: str
    frame_id: str
    status: str
    bytes: int
    seconds_to_ack: float
    #: wall-clock (Unix seconds) of the first request and of the acknowledgement
    started_at: float
    acked_at: float
    attempts: int = 1
    error: str = ""


def synthetic_points(num_points: int, seed: int) -> Any:
    """A spinning-LiDAR-like float32 (N, 4) frame: rings on a ground plane plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    beams = 64
    per_beam = max(1, -(-num_points // beams))  # ceil: enough slots for every point
    azimuth = np.tile(np.linspace(-np.pi, np.pi, per_beam, endpoint=False), beams)[:num_points]
    ring = np.repeat(np.arange(beams), per_beam)[:num_points]
    rng_m = 5.0 + ring * 1.2 + rng.normal(0, 0.05, num_points)
    points = np.empty((num_points, 4), dtype=np.float32)
    points[:, 0] = rng_m * np.cos(azimuth)
    points[:, 1] = rng_m * np.sin(azimuth)
    points[:, 2] = -1.7 + rng.normal(0, 0.02, num_points)
    points[:, 3] = rng.uniform(0, 1, num_points)
    return points


def prepare_fleet(
    out_dir: Path, vehicles: list[str], frames_per_vehicle: int, num_points: int, seed: int = 0
) -> dict[str, str]:
    """Encode ``frames_per_vehicle`` distinct frames for each vehicle as spool records under
    ``out_dir/<vehicle>/NNNNN.ltf``; returns frame id -> vehicle (the ground truth for the
    lost/duplicated check)."""
    from agent.spool.record import SpoolRecord, encode_record, frame_id_of
    from core.formats.codec import encode_frame
    from longtail.v1 import frame_pb2

    expected: dict[str, str] = {}
    for v_index, vehicle in enumerate(vehicles):
        vdir = out_dir / vehicle
        vdir.mkdir(parents=True, exist_ok=True)
        for i in range(frames_per_vehicle):
            frame_seed = seed + v_index * 100_003 + i
            payload = encode_frame(synthetic_points(num_points, frame_seed))
            frame_id = frame_id_of(payload)
            meta = frame_pb2.FrameMetadata(
                frame_id=frame_id,
                vehicle_id=vehicle,
                timestamp_ns=1_700_000_000_000_000_000 + frame_seed,
                model_version="bench",
                rules_fired=["bench"],
                priority=1.0,
                payload_size=len(payload),
                encoding=frame_pb2.PointCloud.ENCODING_LOSSLESS,
                num_points=num_points,
            )
            meta.sensor.name, meta.sensor.beams = "hdl64", 64
            record = encode_record(SpoolRecord(meta, payload))
            (vdir / f"{i:05d}{RECORD_SUFFIX}").write_bytes(record)
            expected[frame_id] = vehicle
    return expected


def _no_stop_sleep(seconds: float) -> bool:
    """The agent's ``Sleeper`` for a process that is never asked to stop early."""
    time.sleep(seconds)
    return False


def upload_vehicle(
    vehicle_dir: Path, target: str, token: str, attempts: int = ATTEMPTS, seed: int = 0
) -> list[FrameResult]:
    """Deliver every prepared record of one vehicle, in name order, with the agent's
    ``IngestClient`` over one channel; transient failures are retried after the agent's
    ``Backoff`` delay, up to ``attempts`` tries per frame."""
    from agent.spool.record import decode_record
    from agent.upload.backoff import Backoff, BandwidthLimiter
    from agent.upload.client import (
        IngestClient,
        PermanentUploadError,
        TransientUploadError,
        make_channel,
    )

    backoff = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S, random.Random(seed))
    unlimited = BandwidthLimiter(float("inf"), 1.0, time.monotonic, _no_stop_sleep)
    results: list[FrameResult] = []
    with make_channel(target, None) as channel:
        client = IngestClient(
            channel, token, unlimited, chunk_bytes=CHUNK_BYTES, timeout_s=RPC_TIMEOUT_S
        )
        for path in sorted(vehicle_dir.glob(f"*{RECORD_SUFFIX}")):
            record = decode_record(path.read_bytes(), str(path))
            start = time.perf_counter()
            started_at = time.time()
            status, error, tries = "failed_transient", "", 0
            while tries < attempts:
                tries += 1
                try:
                    status, error = client.upload(record).value, ""
                    break
                except PermanentUploadError as exc:
                    status, error = "failed_permanent", str(exc)
                    break
                except TransientUploadError as exc:
                    status, error = "failed_transient", str(exc)
                    if tries < attempts:
                        time.sleep(backoff.delay(tries - 1))
            results.append(
                FrameResult(
                    vehicle=record.metadata.vehicle_id,
                    frame_id=record.frame_id,
                    status=status,
                    bytes=len(record.payload),
                    seconds_to_ack=time.perf_counter() - start,
                    started_at=started_at,
                    acked_at=time.time(),
                    attempts=tries,
                    error=error,
                )
            )
    return results


def run_fleet(
    target: str,
    tokens: Mapping[str, str],
    fleet_dir: Path,
    timeout_s: float = 600,
    on_start: Callable[[], None] | None = None,
) -> list[FrameResult]:
    """Start one process per vehicle, release them together (``on_start`` runs right before),
    wait and collect their reports. Every process is reaped, also when one fails."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [root, str(Path(root) / "proto"), env.get("PYTHONPATH", "")]
    )
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for vehicle, token in tokens.items():
            proc = subprocess.Popen(
                [sys.executable, "-m", "simulators.fleet", str(fleet_dir / vehicle), target],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            processes.append((vehicle, proc))
            assert proc.stdin is not None
            proc.stdin.write(token.encode() + b"\n")
            proc.stdin.flush()
        for vehicle, proc in processes:  # every interpreter is up and connected...
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"vehicle process of {vehicle} did not get ready")
        if on_start is not None:
            on_start()
        for _vehicle, proc in processes:  # ...then all start together
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        results: list[FrameResult] = []
        deadline = time.monotonic() + timeout_s
        for vehicle, proc in processes:
            assert proc.stdout is not None
            out = proc.stdout.read()
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode != 0:
                raise RuntimeError(f"vehicle process of {vehicle} exited with {proc.returncode}")
            results.extend(FrameResult(**r) for r in json.loads(out))
        return results
    finally:
        for _vehicle, proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()


def main(argv: list[str] | None = None) -> int:
    """Vehicle process entry: upload one vehicle's frames, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vehicle_dir", type=Path)
    parser.add_argument("target", help="host:port of the ingest server")
    args = parser.parse_args(argv)
    token = sys.stdin.readline().strip()
    # import before saying ready: interpreter start-up is not upload time
    import grpc  # noqa: F401

    import longtail.v1.ingest_pb2_grpc  # noqa: F401

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    # a seed of its own per vehicle, so the fleet's retries do not come in lockstep
    seed = zlib.crc32(args.vehicle_dir.name.encode())
    results = upload_vehicle(args.vehicle_dir, args.target, token, seed=seed)
    json.dump([asdict(r) for r in results], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
