"""Prometheus metrics of the agent, on a registry of their own (nothing global, nothing at import).

Names (prefix ``longtail_agent_``): frames_total, selections_total{rule}, suppressed_total{reason},
spool_bytes, spool_frames, spool_evictions_total, spool_quarantined_total, handoff_drops_total,
upload_lag_seconds, uploaded_frames_total{outcome}, upload_failures_total{kind}, upload_bytes_total,
stage_seconds{stage} (histogram: perception, scoring, selection, encode, spool_write, upload),
model_updates_total{outcome} (installed, activated, refused, unavailable, failed), model_download_bytes_total,
model_swaps_total, model_running{version} (1 for the version analysing frames, 0 for earlier ones).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class AgentMetrics:
    """All agent metrics; pass one instance to every component that reports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        p = "longtail_agent_"
        self.frames = Counter(p + "frames", "Frames processed by the pipeline", registry=r)
        self.selections = Counter(
            p + "selections", "Frames kept, by rule that fired", ["rule"], registry=r
        )
        self.suppressed = Counter(
            p + "suppressed", "Triggered frames not kept, by reason", ["reason"], registry=r
        )
        self.spool_bytes = Gauge(p + "spool_bytes", "Bytes of frames in the spool", registry=r)
        self.spool_frames = Gauge(p + "spool_frames", "Frames in the spool", registry=r)
        self.evictions = Counter(
            p + "spool_evictions", "Frames evicted from a full spool", registry=r
        )
        self.quarantined = Counter(
            p + "spool_quarantined", "Spool files quarantined (corrupt or refused)", registry=r
        )
        self.handoff_drops = Counter(
            p + "handoff_drops",
            "Selected frames dropped because the spool writer lagged",
            registry=r,
        )
        self.upload_lag = Gauge(
            p + "upload_lag_seconds", "Age of the oldest frame waiting in the spool", registry=r
        )
        self.uploaded = Counter(
            p + "uploaded_frames", "Frames confirmed stored by the backend", ["outcome"], registry=r
        )
        self.upload_failures = Counter(
            p + "upload_failures", "Failed upload attempts", ["kind"], registry=r
        )
        self.upload_bytes = Counter(p + "upload_bytes", "Payload bytes sent", registry=r)
        self.stage_seconds = Histogram(
            p + "stage_seconds",
            "Per-stage latency in seconds",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.model_updates = Counter(
            p + "model_updates",
            "Model update attempts, by outcome (refused: failed digest, signature or load check)",
            ["outcome"],
            registry=r,
        )
        self.model_download_bytes = Counter(
            p + "model_download_bytes", "Model package bytes downloaded", registry=r
        )
        self.model_swaps = Counter(
            p + "model_swaps", "Models swapped in between two frames", registry=r
        )
        self.model_running = Gauge(
            p + "model_running", "1 for the model version analysing frames", ["version"], registry=r
        )

        self._seen_evicted = 0
        self._seen_quarantined = 0

    def observe_spool(
        self,
        *,
        frames: int,
        size_bytes: int,
        evicted_total: int,
        quarantined_total: int,
        lag_s: float,
    ) -> None:
        """Publish the spool's state; the totals are the spool's own running counts, turned into
        counter increments here (so every path that evicts or quarantines is counted once)."""
        self.spool_frames.set(frames)
        self.spool_bytes.set(size_bytes)
        self.upload_lag.set(lag_s)
        if evicted_total > self._seen_evicted:
            self.evictions.inc(evicted_total - self._seen_evicted)
            self._seen_evicted = evicted_total
        if quarantined_total > self._seen_quarantined:
            self.quarantined.inc(quarantined_total - self._seen_quarantined)
            self._seen_quarantined = quarantined_total

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """Expose the metrics over HTTP on ``host:port`` (a daemon thread of prometheus_client);
        returns the function that stops the server."""
        httpd, thread = start_http_server(port, addr=host, registry=self.registry)

        def stop() -> None:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)

        return stop
