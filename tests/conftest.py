"""Shared pytest configuration: service fixtures (PostgreSQL, moto S3) and small mounted file
systems (full disk, read-only) live in tests/fixtures."""

import os

# Open3D (imported by the simulator tests) loads its own, older libtbb; numba's parallel kernels
# would then warn that TBB is too old, and warnings fail the suite. OpenMP is what the vehicle
# uses anyway (the agent never loads Open3D), so the tests pin it before numba is imported.
os.environ.setdefault("NUMBA_THREADING_LAYER", "omp")

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.mounts"]
