"""Fleet simulator: N vehicle processes uploading prepared frames to an ingest server.

Used by ``benchmarks/bench_ingest.py``. Two steps, so the vehicle processes stay light (they
import only grpc and the wire contracts, not numpy or the codec)::

    prepare_fleet(out_dir, vehicles, frames_per_vehicle, num_points)   # codec-encoded frames on disk
    results = run_fleet(target, tokens, out_dir)                      # one process per vehicle

A vehicle process (``python -m simulators.fleet VEHICLE_DIR TARGET``) reads its token from
stdin, says ``ready`` on stdout and waits for ``go`` on stdin, so the whole fleet starts uploading
at once however long N interpreters take to start. It uploads each frame the way the real agent
does -- QueryOffset, then one stream from the committed offset, retrying UNAVAILABLE, ABORTED and
RESOURCE_EXHAUSTED with backoff -- and writes a JSON report: per frame its id, status and time
to acknowledgement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: payload slice per stream message, as the agent's uploader sends by default
CHUNK_BYTES = 256 * 1024
#: status code names a vehicle retries (server busy or briefly away)
RETRYABLE_NAMES = ("UNAVAILABLE", "ABORTED", "RESOURCE_EXHAUSTED")


@dataclass(frozen=True)
class FrameResult:
    """One upload as a vehicle saw it."""

    vehicle: str
    frame_id: str
    status: str
    bytes: int
    seconds_to_ack: float
    #: wall-clock (Unix seconds) of the first request and of the acknowledgement
    started_at: float
    acked_at: float


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
    """Encode ``frames_per_vehicle`` distinct frames for each vehicle under ``out_dir/<vehicle>``;
    returns frame id -> vehicle (the ground truth for the lost/duplicated check)."""
    from agent.formats.codec import encode_frame
    from longtail.v1 import frame_pb2

    expected: dict[str, str] = {}
    for v_index, vehicle in enumerate(vehicles):
        vdir = out_dir / vehicle
        vdir.mkdir(parents=True, exist_ok=True)
        for i in range(frames_per_vehicle):
            frame_seed = seed + v_index * 100_003 + i
            payload = encode_frame(synthetic_points(num_points, frame_seed))
            frame_id = hashlib.sha256(payload).hexdigest()
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
            (vdir / f"{i:05d}.payload").write_bytes(payload)
            (vdir / f"{i:05d}.meta").write_bytes(meta.SerializeToString())
            expected[frame_id] = vehicle
    return expected


def _chunks(meta: Any, payload: bytes, offset: int) -> Iterator[Any]:
    from longtail.v1 import ingest_pb2

    first = True
    while True:
        data = payload[offset : offset + CHUNK_BYTES]
        last = offset + len(data) >= len(payload)
        chunk = ingest_pb2.UploadChunk(offset=offset, data=data, last=last)
        if first:
            chunk.metadata.CopyFrom(meta)
            first = False
        yield chunk
        offset += len(data)
        if last:
            return


def upload_vehicle(
    vehicle_dir: Path, target: str, token: str, attempts: int = 8
) -> list[FrameResult]:
    """Upload every prepared frame of one vehicle; retries busy/away statuses with backoff."""
    import grpc

    from longtail.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

    retryable = {grpc.StatusCode[name] for name in RETRYABLE_NAMES}
    auth = (("authorization", f"Bearer {token}"),)
    results: list[FrameResult] = []
    with grpc.insecure_channel(target) as channel:
        stub = ingest_pb2_grpc.IngestStub(channel)
        for meta_path in sorted(vehicle_dir.glob("*.meta")):
            meta = frame_pb2.FrameMetadata.FromString(meta_path.read_bytes())
            payload = meta_path.with_suffix(".payload").read_bytes()
            start = time.perf_counter()
            started_at = time.time()
            status = "FAILED"
            for attempt in range(attempts):
                try:
                    reply = stub.QueryOffset(
                        ingest_pb2.QueryOffsetRequest(frame_id=meta.frame_id),
                        metadata=auth,
                        timeout=120,
                    )
                    if reply.stored:
                        status = "STATUS_ALREADY_STORED"
                        break
                    ack = stub.Upload(
                        _chunks(meta, payload, reply.committed_offset), metadata=auth, timeout=120
                    )
                    status = ingest_pb2.UploadAck.Status.Name(ack.status)
                    break
                except grpc.RpcError as exc:
                    code = exc.code() if isinstance(exc, grpc.Call) else None
                    if code not in retryable:
                        status = f"ERROR_{code.name if code else 'UNKNOWN'}"
                        break
                    time.sleep(0.1 * 2**attempt)
            results.append(
                FrameResult(
                    vehicle=meta.vehicle_id,
                    frame_id=meta.frame_id,
                    status=status,
                    bytes=len(payload),
                    seconds_to_ack=time.perf_counter() - start,
                    started_at=started_at,
                    acked_at=time.time(),
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
    results = upload_vehicle(args.vehicle_dir, args.target, token)
    json.dump([r.__dict__ for r in results], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
