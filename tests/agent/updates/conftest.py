"""The release tests' fixtures (keys, real archives, a backend serving ModelUpdates), reused:
the vehicle is tested against the real server."""

from tests.backend.release.conftest import archives, release_key, served

__all__ = ["archives", "release_key", "served"]
