"""Frame codec speed and compression ratio on a realistic LiDAR frame.

Run: ``.venv/bin/python -m benchmarks.bench_codec [--repeats 15] [--source sim|synthetic]``.
Writes ``benchmarks/results/codec.json``.

The frame is a simulated 64-beam (HDL-64-like) frame of the ``urban`` scenario from
``simulators.drive.simulate_drive`` (``--source synthetic``: a numpy spinning-LiDAR frame of
rings on a ground plane plus boxes, for when the simulator is unavailable). Each case reports the
median (and the fastest) over ``--repeats`` runs of encode and decode throughput in MB/s of raw float32 points
(16 bytes a point) and the compression ratio raw / encoded. Baselines measured in the same run:
``zstd_raw`` (plain zstd, same level, on the interleaved float32 bytes) and ``memcpy`` (numpy
copy of the raw frame: the memory-bandwidth ceiling).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from benchmarks.machine import describe_machine
from benchmarks.provenance import provenance
from core.formats.codec import decode_frame, encode_frame

log = logging.getLogger(__name__)

RESULTS = Path(__file__).resolve().parent / "results" / "codec.json"
LEVEL = 3
STEPS_M = (0.001, 0.005, 0.01)


def simulated_frame(seed: int) -> npt.NDArray[np.float32]:
    """One frame of the ``urban`` scenario (64 beams) from the LiDAR simulator."""
    from simulators.drive import simulate_drive
    from simulators.scenario import builtin_scenario

    points, _ = next(iter(simulate_drive(builtin_scenario("urban"), 1, seed)))
    return points


def synthetic_frame(seed: int, beams: int = 64, columns: int = 2000) -> npt.NDArray[np.float32]:
    """A spinning-LiDAR-like frame: each beam sweeps a ring on the ground (z = -1.73 m) or hits
    one of a few boxes; points in scan order (beam by beam, azimuth sorted), like a real sensor."""
    rng = np.random.default_rng(seed)
    elevation = np.deg2rad(np.linspace(-24.9, 2.0, beams))[:, None]
    azimuth = np.linspace(-np.pi, np.pi, columns, endpoint=False)[None, :]
    ground = np.where(elevation < 0, 1.73 / np.tan(-np.minimum(elevation, -1e-3)), 120.0)
    rng_m = np.broadcast_to(np.minimum(ground, 120.0), (beams, columns)).copy()
    for _ in range(12):  # boxes: a sector of azimuth and beams cut short at the box distance
        centre = rng.uniform(-np.pi, np.pi)
        half_width = rng.uniform(0.02, 0.15)
        hit = np.abs(np.angle(np.exp(1j * (azimuth - centre)))) < half_width
        rows = (elevation > np.deg2rad(-8)) & (elevation < np.deg2rad(rng.uniform(-2, 2)))
        rng_m = np.where(hit & rows, np.minimum(rng_m, rng.uniform(5, 60)), rng_m)
    rng_m = rng_m + rng.normal(0, 0.02, rng_m.shape)
    x = rng_m * np.cos(elevation) * np.cos(azimuth)
    y = rng_m * np.cos(elevation) * np.sin(azimuth)
    z = rng_m * np.sin(elevation)
    intensity = np.clip(rng.normal(0.3, 0.15, rng_m.shape), 0, 1)
    return np.stack([x, y, z, intensity], axis=-1).reshape(-1, 4).astype(np.float32)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls after one warm-up call (caches, allocator, JIT)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def throughput(prefix: str, mb: float, fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """MB/s at the median time and at the fastest run (the latter shows the machine's
    capability when other work shares the cores)."""
    times = timed(fn, repeats)
    return {f"{prefix}_mb_s": mb / statistics.median(times), f"{prefix}_mb_s_best": mb / min(times)}


def run(points: npt.NDArray[np.float32], repeats: int) -> dict[str, Any]:
    raw = points.tobytes()
    mb = len(raw) / 1e6
    cases: dict[str, Any] = {}

    target = np.empty_like(points)
    cases["memcpy"] = throughput("copy", mb, partial(np.copyto, target, points), repeats)

    compressor = zstandard.ZstdCompressor(level=LEVEL)
    plain = compressor.compress(raw)
    decompressor = zstandard.ZstdDecompressor()
    cases["zstd_raw"] = {
        **throughput("encode", mb, partial(compressor.compress, raw), repeats),
        **throughput("decode", mb, partial(decompressor.decompress, plain), repeats),
        "ratio": len(raw) / len(plain),
        "bytes": len(plain),
    }

    for step in (None, *STEPS_M):
        name = "lossless" if step is None else f"quantized_{step * 1000:g}mm"
        encoded = encode_frame(points, quantization_step_m=step, level=LEVEL)
        decoded = decode_frame(encoded)
        error = np.abs(decoded.astype(np.float64) - points.astype(np.float64))
        encode = partial(encode_frame, points, quantization_step_m=step, level=LEVEL)
        cases[name] = {
            **throughput("encode", mb, encode, repeats),
            **throughput("decode", mb, partial(decode_frame, encoded), repeats),
            "ratio": len(raw) / len(encoded),
            "bytes": len(encoded),
            "max_abs_error_xyz_m": float(error[:, :3].max()),
            "max_abs_error_intensity": float(error[:, 3].max()),
        }
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--source", choices=("sim", "synthetic"), default="sim")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.source == "sim":
        points, frame = simulated_frame(args.seed), "simulators.drive urban scenario, hdl64 preset"
    else:
        points, frame = synthetic_frame(args.seed), "synthetic 64-beam rings plus boxes"
    cases = run(points, args.repeats)
    result = {
        "benchmark": "frame codec (core.formats.codec)",
        "machine": describe_machine(zstandard=zstandard.__version__),
        "frame": {"source": frame, "seed": args.seed, "points": int(points.shape[0])},
        "raw_bytes": int(points.nbytes),
        "zstd_level": LEVEL,
        "repeats": args.repeats,
        "statistic": "median (and *_best: fastest run)",
        "units": {"*_mb_s": "MB/s (1e6 bytes) of raw float32 points", "ratio": "raw / encoded"},
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["provenance"] = provenance(["benchmarks.bench_codec"], vars(args))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, case in cases.items():
        log.info("%-20s %s", name, {k: round(v, 4) for k, v in case.items()})
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
