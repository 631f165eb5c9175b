"""A thin HTTP client of the Longtail annotation API (httpx), one per simulated person.

Every call returns the decoded JSON (None for ``204``: an empty queue, whose reason is kept in
``last_reason``) or raises the crowd's errors: :class:`StaleVersionError` (409 with
``current_version``), :class:`LeaseLostError` (409 otherwise), :class:`FlaggedError` (403 from
``/work/next``), :class:`ApiError` for anything else unexpected.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from simulators.crowd.errors import (
    ApiError,
    CrowdError,
    FlaggedError,
    LeaseLostError,
    StaleVersionError,
)

log = logging.getLogger(__name__)


class ApiClient:
    """Requests on behalf of one person (their bearer token) against ``base_url``."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
        self.last_reason = ""

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise CrowdError(f"{method} {path}: no answer from the server: {exc}") from exc
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:500]}
        detail = str(body.get("detail", body)) if isinstance(body, dict) else str(body)
        if response.status_code == 409:
            if isinstance(body, dict) and body.get("current_version") is not None:
                raise StaleVersionError(method, path, detail, int(body["current_version"]))
            raise LeaseLostError(method, path, 409, detail)
        if response.status_code == 403 and path == "/work/next" and "flagged" in detail:
            raise FlaggedError(method, path, 403, detail)
        raise ApiError(method, path, response.status_code, detail)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        if response.status_code == 204:
            self.last_reason = response.headers.get("X-Longtail-Reason", "")
            return None
        return response.json()

    # -- work ------------------------------------------------------------------------------

    def next(self, stage: str) -> dict[str, Any] | None:
        """The next lease at ``stage``; None when nothing waits (see ``last_reason``)."""
        found: dict[str, Any] | None = self._json("POST", "/work/next", params={"stage": stage})
        return found

    def read(self, assignment: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/work/{assignment}"))

    def points(self, assignment: int, frame_id: str) -> npt.NDArray[np.float32]:
        """The frame's points, float32 (N, 4) x, y, z, intensity in the sensor frame."""
        response = self._call("GET", f"/work/{assignment}/frames/{frame_id}/points")
        return np.frombuffer(response.content, dtype="<f4").reshape(-1, 4)

    def save(
        self, assignment: int, base_version: int, labels: dict[str, Any], *, draft: bool = True
    ) -> int:
        """Save a revision; returns its version."""
        body = {"base_version": base_version, "labels": labels, "draft": draft}
        return int(self._json("PUT", f"/work/{assignment}/labels", json=body)["version"])

    def submit(
        self, assignment: int, base_version: int, labels: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"base_version": base_version, "labels": labels}
        return dict(self._json("POST", f"/work/{assignment}/submit", json=body))

    def review(self, assignment: int, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._json("POST", f"/work/{assignment}/review", json=body))

    def adjudicate(self, assignment: int, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self._json("POST", f"/work/{assignment}/adjudicate", json=body))

    def release(self, assignment: int) -> None:
        self._call("POST", f"/work/{assignment}/release")

    # -- operators ---------------------------------------------------------------------------

    def create_person(self, name: str, role: str) -> str:
        """Create an account (admin); returns its token."""
        body = self._json("POST", "/people", json={"name": name, "role": role})
        return str(body["token"])

    def people(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/people"))

    def frames(self) -> list[dict[str, Any]]:
        """Every stored frame (paged through)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self._json("GET", "/frames", params={"limit": 500, "offset": len(out)})
            out.extend(page["items"])
            if not page["items"] or len(out) >= page["total"]:
                return out

    def frame(self, frame_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/frames/{frame_id}"))

    def tasks(self, **filters: Any) -> list[dict[str, Any]]:
        """Every task matching ``filters`` (stage, tier, gold), paged through."""
        out: list[dict[str, Any]] = []
        while True:
            params = {**filters, "limit": 1000, "offset": len(out)}
            page = self._json("GET", "/tasks", params=params)
            out.extend(page["items"])
            if not page["items"] or len(out) >= page["total"]:
                return out

    def count_tasks(self, **filters: Any) -> int:
        return int(self._json("GET", "/tasks", params={**filters, "limit": 1})["total"])

    def task(self, task_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/tasks/{task_id}"))

    def sync(self) -> dict[str, Any]:
        return dict(self._json("POST", "/tasks/sync"))

    def create_gold(
        self, frame_ids: list[str], labels: dict[str, Any], *, calibration: bool
    ) -> dict[str, Any]:
        body = {"frame_ids": frame_ids, "labels": labels, "calibration": calibration}
        return dict(self._json("POST", "/gold", json=body))

    def qa_report(self) -> dict[str, Any]:
        return dict(self._json("GET", "/qa/report"))

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        """Audit events matching ``filters`` (task_id, actor), paged through."""
        out: list[dict[str, Any]] = []
        while True:
            page = self._json(
                "GET", "/audit", params={**filters, "limit": 1000, "offset": len(out)}
            )
            out.extend(page)
            if len(page) < 1000:
                return out
