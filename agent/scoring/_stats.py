"""``ScoringStats``: the fitted statistics stored in a model package as ``scoring.npz``.

Fitting reads the package's ``embeddings.npz`` materials (training embeddings and labels for the
Gaussians and the feature bank; in-distribution validation logits and embeddings for the
calibration quantiles). Loading validates every array and names the file and the array on error.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from agent.errors import ModelPackageError, ScoringError
from agent.scoring._calibration import fit_quantiles
from agent.scoring._cpu import CpuBackend
from agent.scoring._model import SCORE_NAMES, ScoreModel
from agent.scoring._raw import raw_scores, validate_embeddings, validate_logits
from core.formats.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

SCORING_FILE: Final = "scoring.npz"
EMBEDDINGS_FILE: Final = "embeddings.npz"
FORMAT_VERSION: Final = 1

#: bank entries kept at most; the training embeddings are subsampled (seeded) beyond this
MAX_BANK: Final = 100_000


def regularised_covariance(centred: NDArray[np.float64], shrinkage: float) -> NDArray[np.float64]:
    """Shared covariance of class-centred rows ``[n, D]``, shrunk toward a scaled identity.

    ``(1 - a) S + a (tr(S) / D) I`` with ``a = shrinkage`` in (0, 1]: positive definite even
    when ``S`` is singular (fewer rows than dimensions, constant components). If ``S`` is all
    zero the identity scale falls back to 1 (embedding units squared).
    """
    if not 0.0 < shrinkage <= 1.0:
        raise ScoringError(f"shrinkage must be in (0, 1], got {shrinkage}")
    n, dim = centred.shape
    cov = centred.T @ centred / max(n, 1)
    scale = float(np.trace(cov)) / dim
    if not scale > 0.0:
        scale = 1.0
    reg: NDArray[np.float64] = (1.0 - shrinkage) * cov + shrinkage * scale * np.eye(dim)
    return reg


def _precision(cov: NDArray[np.float64]) -> NDArray[np.float64]:
    lower = np.linalg.cholesky(cov)
    inv_lower = np.linalg.solve(lower, np.eye(cov.shape[0]))
    prec = inv_lower.T @ inv_lower
    sym: NDArray[np.float64] = (prec + prec.T) / 2.0
    return sym  # exact symmetry for the Cholesky of the precision later


@dataclass(frozen=True, eq=False)
class ScoringStats:
    """Per-model statistics for the OOD scores.

    ``class_ids`` ``[C]`` int64 (logit class index of each Gaussian; classes absent from the
    training embeddings have none), ``class_means`` ``[C, D]`` float64, ``precision`` ``[D, D]``
    float64 (inverse of the regularised shared covariance), ``bank`` ``[B, D]`` float32 or
    float16 L2-normalised training embeddings, ``quantiles`` ``[S, Q]`` float64 quantiles of
    each raw score (``SCORE_NAMES`` order) on ``n_calibration`` ID validation candidates,
    ``n_classes`` the logit width K, ``k`` the kNN neighbour the knn quantiles were fitted with,
    ``shrinkage`` of the covariance, and ``cluster_rate``: mean number of unexplained large
    point clusters per ID frame (NaN when not fitted).
    """

    class_ids: NDArray[np.int64]
    class_means: NDArray[np.float64]
    precision: NDArray[np.float64]
    bank: NDArray[np.floating]
    quantiles: NDArray[np.float64]
    n_calibration: int
    n_classes: int
    k: int
    shrinkage: float
    cluster_rate: float = math.nan

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.precision.shape[0])

    def score_model(self, k: int | None = None) -> ScoreModel:
        """The kernel arrays for this model (``k`` defaults to the fitted one)."""
        return ScoreModel.build(
            self.class_means, self.precision, self.bank, self.k if k is None else k
        )

    @classmethod
    def fit(
        cls,
        train_embeddings: NDArray[np.floating],
        train_labels: NDArray[np.integer],
        val_logits: NDArray[np.floating],
        val_embeddings: NDArray[np.floating],
        *,
        k: int = 10,
        n_quantiles: int = 1000,
        shrinkage: float = 0.01,
        bank_dtype: Literal["float32", "float16"] = "float32",
        max_bank: int = MAX_BANK,
        seed: int = 0,
        val_unexplained_clusters: NDArray[np.integer] | None = None,
    ) -> ScoringStats:
        """Fit the Gaussians and the bank on training rows, the quantiles on validation rows.

        ``val_unexplained_clusters`` (one count per ID validation frame), when given, sets
        ``cluster_rate``. Raises ``ScoringError`` on inconsistent shapes or bad values.
        """
        x = np.asarray(train_embeddings, dtype=np.float64)
        y = np.asarray(train_labels)
        if x.ndim != 2 or x.shape[0] == 0 or y.shape != (x.shape[0],):
            raise ScoringError(
                f"train_embeddings [B, D] and train_labels [B] disagree: {x.shape} vs {y.shape}"
            )
        if not np.isfinite(x).all():
            raise ScoringError(
                f"train_embeddings row {int(np.argwhere(~np.isfinite(x))[0, 0])} is not finite"
            )
        if n_quantiles < 2:
            raise ScoringError(f"n_quantiles must be >= 2, got {n_quantiles}")
        val_l = validate_logits(np.asarray(val_logits), None)
        if val_l.shape[0] == 0:
            raise ScoringError("val_logits has no rows: calibration needs ID validation data")
        n_classes = val_l.shape[2]
        if y.min() < 0 or y.max() >= n_classes:
            raise ScoringError(
                f"train_labels span [{y.min()}, {y.max()}], outside the K={n_classes} logit classes"
            )
        dim = x.shape[1]
        val_e = validate_embeddings(np.asarray(val_embeddings), dim, val_l.shape[0])

        class_ids = np.unique(y).astype(np.int64)
        means = np.stack([x[y == c].mean(axis=0) for c in class_ids])
        centred = x - means[np.searchsorted(class_ids, y)]
        precision = _precision(regularised_covariance(centred, shrinkage))

        norms = np.linalg.norm(x, axis=1)
        keep = np.flatnonzero(norms > 0.0)  # a zero vector has no direction to compare
        if keep.size > max_bank:
            keep = np.sort(np.random.default_rng(seed).choice(keep, max_bank, replace=False))
        if keep.size < k:
            raise ScoringError(f"only {keep.size} non-zero training embeddings for k={k}")
        bank = (x[keep] / norms[keep, None]).astype(np.dtype(bank_dtype))

        model = ScoreModel.build(means, precision, bank, k)
        raw = raw_scores(CpuBackend(model), val_l, val_e, k)
        quantiles = np.stack([fit_quantiles(raw[name], n_quantiles) for name in SCORE_NAMES])
        rate = math.nan
        if val_unexplained_clusters is not None:
            counts = np.asarray(val_unexplained_clusters, dtype=np.float64)
            if counts.size == 0 or (counts < 0).any() or not np.isfinite(counts).all():
                raise ScoringError(
                    "val_unexplained_clusters must be non-negative counts, one per frame"
                )
            rate = float(counts.mean())
        logger.info(
            "fitted scoring stats: %d classes, D=%d, bank %d (%s), %d calibration rows",
            class_ids.size,
            dim,
            bank.shape[0],
            bank_dtype,
            val_l.shape[0],
        )
        return cls(
            class_ids=class_ids,
            class_means=means,
            precision=precision,
            bank=bank,
            quantiles=quantiles,
            n_calibration=int(val_l.shape[0]),
            n_classes=int(n_classes),
            k=k,
            shrinkage=shrinkage,
            cluster_rate=rate,
        )

    @classmethod
    def fit_package(cls, package_dir: Path, **options: object) -> ScoringStats:
        """Fit from ``package_dir/embeddings.npz`` (``options`` as in ``fit``)."""
        path = Path(package_dir) / EMBEDDINGS_FILE
        arrays = _read_npz(path)
        need = ("train_embeddings", "train_labels", "val_logits", "val_embeddings")
        for name in need:
            if name not in arrays:
                raise ModelPackageError(f"{path}: missing array {name!r} (has {sorted(arrays)})")
        try:
            return cls.fit(*(arrays[name] for name in need), **options)  # type: ignore[arg-type]
        except ScoringError as exc:
            raise ModelPackageError(f"{path}: {exc}") from exc

    def save(self, package_dir: Path) -> Path:
        """Write ``package_dir/scoring.npz`` atomically; returns the file path."""
        path = Path(package_dir) / SCORING_FILE
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format_version=np.int64(FORMAT_VERSION),
            score_names=np.array(SCORE_NAMES),
            class_ids=self.class_ids,
            class_means=self.class_means,
            precision=self.precision,
            bank=self.bank,
            quantiles=self.quantiles,
            n_calibration=np.int64(self.n_calibration),
            n_classes=np.int64(self.n_classes),
            k=np.int64(self.k),
            shrinkage=np.float64(self.shrinkage),
            cluster_rate=np.float64(self.cluster_rate),
        )
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: Path) -> ScoringStats:
        """Read and validate ``scoring.npz`` (``path`` is the file or its package directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / SCORING_FILE
        return _validated(path, _read_npz(path))


def _read_npz(path: Path) -> dict[str, NDArray[np.generic]]:
    try:
        raw = path.read_bytes()  # np.load leaks its handle when it refuses a file
    except FileNotFoundError as exc:
        raise ModelPackageError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ModelPackageError(f"{path}: cannot read ({exc})") from exc
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelPackageError(f"{path}: not a readable npz archive ({exc})") from exc


def _validated(path: Path, a: Mapping[str, NDArray[np.generic]]) -> ScoringStats:
    def fail(name: str, problem: str) -> ModelPackageError:
        return ModelPackageError(f"{path}: array {name!r} {problem}")

    def get(name: str, ndim: int, kinds: str) -> NDArray[np.generic]:
        if name not in a:
            raise fail(name, f"is missing (has {sorted(a)})")
        arr = a[name]
        if arr.ndim != ndim or arr.dtype.kind not in kinds:
            raise fail(
                name,
                f"has shape {arr.shape} dtype {arr.dtype}, expected {ndim}-d of kind {kinds!r}",
            )
        if (
            arr.dtype.kind == "f"
            and not np.isfinite(arr).all()
            and name not in ("quantiles", "cluster_rate")
        ):
            raise fail(name, "has non-finite values")
        return arr

    version = int(get("format_version", 0, "iu"))
    if version != FORMAT_VERSION:
        raise fail("format_version", f"is {version}, this agent reads {FORMAT_VERSION}")
    names = tuple(str(s) for s in get("score_names", 1, "U"))
    if names != SCORE_NAMES:
        raise fail("score_names", f"is {names}, expected {SCORE_NAMES}")
    class_ids = get("class_ids", 1, "iu").astype(np.int64)
    means = get("class_means", 2, "f").astype(np.float64)
    precision = get("precision", 2, "f").astype(np.float64)
    bank = get("bank", 2, "f")
    quantiles = get("quantiles", 2, "f").astype(np.float64)
    n_cal = int(get("n_calibration", 0, "iu"))
    n_classes = int(get("n_classes", 0, "iu"))
    k = int(get("k", 0, "iu"))
    shrinkage = float(get("shrinkage", 0, "f"))
    cluster_rate = float(get("cluster_rate", 0, "f"))
    dim = precision.shape[0]
    if precision.shape != (dim, dim) or dim == 0:
        raise fail("precision", f"has shape {precision.shape}, expected square (D, D)")
    if means.shape != (class_ids.size, dim) or class_ids.size == 0:
        raise fail(
            "class_means", f"has shape {means.shape}, expected (C, D) = ({class_ids.size}, {dim})"
        )
    if (
        class_ids.min() < 0
        or class_ids.max() >= n_classes
        or np.unique(class_ids).size != class_ids.size
    ):
        raise fail(
            "class_ids", f"{class_ids.tolist()} are not distinct classes in [0, {n_classes})"
        )
    if bank.dtype not in (np.float32, np.float16) or bank.shape[1:] != (dim,):
        raise fail(
            "bank",
            f"has shape {bank.shape} dtype {bank.dtype}, expected (B, {dim}) float32/float16",
        )
    norms = np.linalg.norm(bank.astype(np.float64), axis=1)
    if not np.allclose(norms, 1.0, atol=2e-3):  # float16 rounding allows ~1e-3
        raise fail("bank", f"rows are not unit vectors (norms in [{norms.min()}, {norms.max()}])")
    if not 1 <= k <= bank.shape[0]:
        raise fail("k", f"is {k}, expected between 1 and the bank size {bank.shape[0]}")
    if quantiles.shape[0] != len(SCORE_NAMES) or quantiles.shape[1] < 2:
        raise fail("quantiles", f"has shape {quantiles.shape}, expected ({len(SCORE_NAMES)}, Q>=2)")
    if np.isnan(quantiles).any() or (np.diff(quantiles, axis=1) < 0).any():
        raise fail("quantiles", "is not non-decreasing along each row")
    if n_cal < 1:
        raise fail("n_calibration", f"is {n_cal}, expected >= 1")
    if not 0.0 < shrinkage <= 1.0:
        raise fail("shrinkage", f"is {shrinkage}, expected in (0, 1]")
    if not (math.isnan(cluster_rate) or cluster_rate >= 0.0):
        raise fail("cluster_rate", f"is {cluster_rate}, expected >= 0 or NaN")
    if not np.allclose(precision, precision.T, rtol=1e-10, atol=0.0):
        raise fail("precision", "is not symmetric")
    try:
        np.linalg.cholesky(precision)
    except np.linalg.LinAlgError as exc:
        raise fail("precision", "is not positive definite") from exc
    return ScoringStats(
        class_ids=class_ids,
        class_means=means,
        precision=precision,
        bank=bank.astype(bank.dtype),
        quantiles=quantiles,
        n_calibration=n_cal,
        n_classes=n_classes,
        k=k,
        shrinkage=shrinkage,
        cluster_rate=cluster_rate,
    )
