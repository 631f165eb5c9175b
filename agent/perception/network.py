"""The ONNX Runtime session of the candidate network, on CUDA when present, CPU otherwise.

Inputs ``points`` float32 [N, P, 4] and ``features`` float32 [N, F]; outputs ``logits`` float32
[N, M, K] (M ensemble members in one graph), ``embedding`` float32 [N, D] (the shared trunk, taken
before the heads) and ``box_delta`` float32 [N, 7] (see ``decode``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from agent.errors import ModelPackageError
from core.errors import ConfigError

log = logging.getLogger(__name__)

INPUT_NAMES: Final = ("points", "features")
OUTPUT_NAMES: Final = ("logits", "embedding", "box_delta")
CUDA: Final = "CUDAExecutionProvider"
CPU: Final = "CPUExecutionProvider"

F32 = npt.NDArray[np.float32]


def _gpu_present() -> bool:
    # onnxruntime-gpu lists CUDA even on machines without a GPU and then logs a loud failure;
    # the NVIDIA driver's device node is a cheap, quiet check that there is something to try
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def select_providers(requested: Sequence[str] | None = None) -> list[str]:
    """Execution providers to try, best first; always ends with the CPU provider.

    ``None`` means CUDA if this build has it and a GPU driver is present, then CPU;
    ``["CPUExecutionProvider"]`` forces CPU. Providers this build lacks are skipped with a log line.
    """
    available = set(ort.get_available_providers())
    wanted = [CUDA, CPU] if requested is None else list(requested)
    chosen = []
    for name in wanted:
        if name not in available or (name == CUDA and requested is None and not _gpu_present()):
            if requested is not None:
                log.warning("execution provider %s is not available here, skipped", name)
            continue
        if name not in chosen:
            chosen.append(name)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


class OnnxNetwork:
    """One inference session of ``model_path``; ``intra_op_threads`` threads for its kernels."""

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 1,
    ) -> None:
        if intra_op_threads < 1:
            raise ConfigError(f"perception: intra_op_threads must be >= 1, got {intra_op_threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        chosen = select_providers(providers)
        path = str(Path(model_path))
        try:
            self.session = ort.InferenceSession(path, sess_options=options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            if chosen == [CPU]:
                raise ModelPackageError(
                    f"{path}: ONNX Runtime cannot load the graph: {exc}"
                ) from exc
            log.warning("providers %s failed (%s); falling back to CPU", chosen, exc)
            try:
                self.session = ort.InferenceSession(path, sess_options=options, providers=[CPU])
            except Exception as exc2:
                raise ModelPackageError(
                    f"{path}: ONNX Runtime cannot load the graph: {exc2}"
                ) from exc2
        self.providers: list[str] = list(self.session.get_providers())
        log.info("perception network on %s", self.providers[0])

    def input_shapes(self) -> dict[str, list[int | str | None]]:
        """Declared input shapes by name (symbolic dimensions as strings)."""
        return {i.name: list(i.shape) for i in self.session.get_inputs()}

    def output_shapes(self) -> dict[str, list[int | str | None]]:
        """Declared output shapes by name (symbolic dimensions as strings)."""
        return {o.name: list(o.shape) for o in self.session.get_outputs()}

    def run(self, points: F32, features: F32) -> tuple[F32, F32, F32]:
        """``(logits [N, M, K], embedding [N, D], box_delta [N, 7])`` of N candidates."""
        out = self.session.run(list(OUTPUT_NAMES), {"points": points, "features": features})
        logits, embedding, delta = (np.asarray(o, dtype=np.float32) for o in out)
        return logits, embedding, delta
