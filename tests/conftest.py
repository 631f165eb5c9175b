"""Shared pytest configuration: service fixtures (PostgreSQL, moto S3) and small mounted file
systems (full disk, read-only) live in tests/fixtures."""

import os

# Open3D (imported by the simulator tests) loads its own, older libtbb; numba's parallel kernels
# would then warn that TBB is too old, and warnings fail the suite. OpenMP is what the vehicle
# uses anyway (the agent never loads Open3D), so the tests pin it before numba is imported.
os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")
# numba re-reads its configuration at every compilation and refuses a thread count that differs
# from the one its pool started with. Benchmark modules set NUMBA_NUM_THREADS=1 when imported
# (setdefault), and under two test workers such an import can land before or after the pool
# starts, depending on which files share a worker; one fixed value for the whole session keeps
# every reading equal.
os.environ.setdefault("NUMBA_NUM_THREADS", str(len(os.sched_getaffinity(0))))

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.mounts"]
