"""Fine-tuning from the champion's package: ONNX weights back into ``CandidateNet``, classes
grown, trained further on a training set, exported and packaged with fresh scoring statistics.

A package holds only ``model.onnx`` (``agent.perception.package``). Its initialisers carry the
torch parameter names, except the two weights of the point MLP, which the exporter stores
transposed under generated names as the second operand of a ``MatMul``; those are found through
the bias ``Add`` that consumes the ``MatMul``'s output. The loaded model is checked against ONNX
Runtime on random inputs (within ``LOAD_ATOL`` + ``LOAD_RTOL`` times the value).

Trial classes (``backend.training.ontology``) get new rows in the last layer of every ensemble
head; the old rows are copied, so the grown model scores the old classes exactly as before.
A new row starts as the mean of the head's foreground rows (the champion's notion of "an
object") plus Gaussian noise of ``NEW_ROW_NOISE`` times their spread (so heads and new classes
differ), and its bias as the mean foreground bias minus log(number of foreground classes), so
the new class starts less likely than a typical known class and takes over only where training
pushes it.

After training, the ontology's review keeps a trial class only when its validation recall clears
``FinetuneConfig.min_val_recall``; a demoted class's rows are dropped from every head
(:func:`drop_classes`) and its candidates left out of the package's embeddings and scoring
statistics, exactly as for a class that was never promoted, so the packaged model never names
it. Its validation candidates' share still called foreground by the packaged model is recorded
(``unknown_foreground_share``): what the vehicle will still detect of it as an unknown object.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from agent.perception.network import CPU
from agent.perception.package import ModelPackage
from agent.perception.pipeline import Perception
from agent.perception.preprocess import PipelineParams
from agent.scoring import ScoringStats
from backend.errors import TrainingError
from backend.training.candidates import DROPPED, CandidateSet, build_candidates
from backend.training.export import verify_onnx
from backend.training.model import CandidateNet
from backend.training.ontology import (
    DEFAULT_MAX_PROMOTED,
    DEFAULT_MIN_LABELS,
    DEFAULT_MIN_RECALL,
    OntologyDecision,
    PromotionReview,
    next_classes,
    review_promotions,
)
from backend.training.package import write_package
from backend.training.sets import TrainingSet
from backend.training.train import TrainConfig, predict, train
from core.formats.dataset import Dataset

log = logging.getLogger(__name__)

#: tolerance of the loaded torch model against ONNX Runtime on random inputs, per output
#: element |torch - onnx| <= LOAD_ATOL + LOAD_RTOL * |onnx|. Relative, because logits reach ~150,
#: where one float32 step is 1.5e-5 and the two runtimes' matrix products (their summation order
#: depends on the CPU's kernels) differ by a few steps; a wrongly loaded weight is off by O(1).
LOAD_ATOL: Final = 1e-5
LOAD_RTOL: Final = 1e-5
#: spread of the noise on a new class row, relative to the std of the foreground rows
NEW_ROW_NOISE: Final = 0.1


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning settings: fewer epochs and a lower peak learning rate than a fresh training
    (``TrainConfig``); the architecture comes from the champion."""

    seed: int = 0
    #: 8 epochs at 5e-4 taught a new class (stroller) to 0.84 detection recall on held-out
    #: drives in under a minute on 2 cores (benchmarks/results/retrain.json)
    epochs: int = 8
    learning_rate: float = 5e-4
    batch_size: int = 256
    weight_decay: float = 1e-4
    jitter: float = 0.03  #: metres of Gaussian noise on training points
    threads: int = 2
    min_labels: int = DEFAULT_MIN_LABELS  #: accepted objects a rare class needs to be learnt
    #: validation recall a trial class needs to stay in the package (else demoted to unknown)
    min_val_recall: float = DEFAULT_MIN_RECALL
    #: trial classes per turn, best-supported first (None: no cap)
    max_promoted: int | None = DEFAULT_MAX_PROMOTED


@dataclass
class FinetuneResult:
    """What a fine-tuning run produced (``package`` lives at ``package.path``): the package's
    classes, the trial classes kept (``promoted``) and ``demoted``, the training candidates per
    trained class (demoted ones included), the package's validation recall per class, and the
    promotion review with its numbers (``promotion``, JSON)."""

    package: ModelPackage
    classes: tuple[str, ...]
    promoted: tuple[str, ...]
    history: list[dict[str, float]]
    weights_sha256: str
    candidates_per_class: dict[str, int]
    val_recall: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)
    demoted: tuple[str, ...] = ()
    promotion: dict[str, Any] = field(default_factory=dict)


def onnx_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The torch parameter names and values of an exported ``CandidateNet`` graph."""
    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    out = {name: value for name, value in inits.items() if not name.startswith("onnx::")}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits or node.input[1] in out:
            continue
        adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
        bias = [i for n in adds for i in n.input if i.endswith(".bias") and i in inits]
        if len(bias) != 1:
            raise TrainingError(f"{path}: cannot name the MatMul weight {node.input[1]!r}")
        out[bias[0][: -len("bias")] + "weight"] = inits[node.input[1]].T
    return out


def load_champion(package: ModelPackage) -> CandidateNet:
    """The champion's network as a ``CandidateNet``, checked against ONNX Runtime."""
    meta = package.metadata
    config = dict(meta["training"].get("config", {}))
    model = CandidateNet(
        num_classes=len(package.class_names),
        ensemble_size=package.ensemble_size,
        embedding_dim=package.embedding_dim,
        num_features=len(meta["feature_names"]),
        width=int(config.get("width", TrainConfig.width)),
        head_dropout=float(config.get("head_dropout", TrainConfig.head_dropout)),
    )
    weights = onnx_state_dict(package.model_path)
    own = model.state_dict()
    if set(weights) != set(own):
        raise TrainingError(
            f"{package.model_path}: parameters {sorted(set(weights) ^ set(own))} do not match "
            "a CandidateNet"
        )
    for name, tensor in own.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise TrainingError(
                f"{package.model_path}: {name} has shape {weights[name].shape}, "
                f"expected {tuple(tensor.shape)}"
            )
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    model.eval()
    try:
        worst = compare_with_onnx(model, package.model_path, package.points_per_candidate)
    except TrainingError as exc:
        raise TrainingError(f"the champion's weights did not load back: {exc}") from exc
    log.info("loaded %s into torch (max |torch - onnx| = %.2g)", package.version, worst)
    return model


def compare_with_onnx(model: CandidateNet, path: Path, points_per_candidate: int) -> float:
    """Largest |torch - ONNX Runtime| over all outputs on 64 random candidates (points of a
    few metres' spread, features of unit scale); TrainingError beyond ``LOAD_ATOL`` +
    ``LOAD_RTOL`` (``export.verify_onnx``)."""
    rng = np.random.default_rng(0)
    trunk_in, pooled = model.trunk[0], model.point_mlp[2]
    assert isinstance(trunk_in, torch.nn.Linear) and isinstance(pooled, torch.nn.Linear)
    num_features = trunk_in.in_features - pooled.out_features
    points = rng.normal(0.0, 2.0, (64, points_per_candidate, 4)).astype(np.float32)
    features = rng.normal(0.0, 1.0, (64, num_features)).astype(np.float32)
    return verify_onnx(model, path, points, features, atol=LOAD_ATOL, rtol=LOAD_RTOL)


def grow_classes(
    model: CandidateNet, old: tuple[str, ...], new: tuple[str, ...], seed: int
) -> CandidateNet:
    """``model`` with the class rows of ``new`` (which starts with ``old``); see the module
    docstring for how new rows start."""
    if new[: len(old)] != old:
        raise TrainingError(f"new classes {list(new)} do not start with the old {list(old)}")
    if new == old:
        return model
    rng = np.random.default_rng([seed, len(new)])
    extra = len(new) - len(old)
    for head in model.heads:
        assert isinstance(head, torch.nn.Sequential)
        last = head[-1]
        assert isinstance(last, torch.nn.Linear)
        w, b = last.weight.detach().numpy(), last.bias.detach().numpy()
        fg_w, fg_b = w[1:], b[1:]
        noise = rng.normal(0.0, NEW_ROW_NOISE * float(fg_w.std()), (extra, w.shape[1]))
        new_w = np.concatenate([w, fg_w.mean(axis=0) + noise]).astype(np.float32)
        new_b = np.concatenate(
            [b, np.full(extra, fg_b.mean() - math.log(max(len(fg_b), 1)))]
        ).astype(np.float32)
        grown = torch.nn.Linear(w.shape[1], len(new))
        with torch.no_grad():
            grown.weight.copy_(torch.from_numpy(new_w))
            grown.bias.copy_(torch.from_numpy(new_b))
        head[-1] = grown
    return model


def drop_classes(
    model: CandidateNet, classes: tuple[str, ...], keep: tuple[str, ...]
) -> CandidateNet:
    """``model`` with only the class rows of ``keep`` (a subsequence of ``classes`` that keeps
    ``classes[0]``, the background) in the last layer of every head, in ``keep``'s order."""
    rows = [classes.index(c) for c in keep if c in classes]
    if len(rows) != len(keep) or rows != sorted(rows) or not rows or rows[0] != 0:
        raise TrainingError(f"cannot keep classes {list(keep)} of {list(classes)}")
    if len(rows) == len(classes):
        return model
    index = torch.tensor(rows)
    for head in model.heads:
        assert isinstance(head, torch.nn.Sequential)
        last = head[-1]
        assert isinstance(last, torch.nn.Linear)
        kept = torch.nn.Linear(last.in_features, len(rows))
        with torch.no_grad():
            kept.weight.copy_(last.weight.detach()[index])
            kept.bias.copy_(last.bias.detach()[index])
        head[-1] = kept
    return model


def relabel(data: CandidateSet, classes: tuple[str, ...], keep: tuple[str, ...]) -> CandidateSet:
    """``data`` (labels indexing ``classes``) with labels indexing ``keep``; candidates of the
    classes not kept are left out (as candidates of unknown classes always are)."""
    where = {c: i for i, c in enumerate(keep)}
    table = np.array([where.get(c, DROPPED) for c in classes], dtype=np.int64)
    labels = table[data.labels]
    rows = labels != DROPPED
    return replace(data.take(rows), labels=labels[rows])


def weights_digest(model: CandidateNet) -> str:
    """SHA-256 over the model's parameters (names, shapes and float32 bytes, in order)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


def set_candidates(
    training_set: TrainingSet,
    split: str,
    params: PipelineParams,
    classes: tuple[str, ...],
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> CandidateSet:
    """Candidates of every group of ``split``, rows of repeated frames repeated."""
    parts = []
    for group_dir in training_set.dirs(split):
        cache = None
        if cache_dir is not None:
            key = hashlib.sha256(
                repr(
                    (training_set.digest, group_dir.name, split, params.to_json(), classes)
                ).encode()
            ).hexdigest()[:20]
            cache = cache_dir / f"candidates-{key}.npz"
        cands = build_candidates(group_dir, params, classes, cache=cache, progress=progress)
        repeats = training_set.repeats(group_dir)
        rows = np.repeat(np.arange(len(cands)), [repeats[int(f)] for f in cands.frame])
        parts.append(cands.take(rows))
    if not parts:
        raise TrainingError(f"training set {training_set.digest}: split {split!r} has no group")
    return CandidateSet.concat(parts)


def mean_class(model: CandidateNet, data: CandidateSet) -> np.ndarray:
    """The ensemble-mean class (argmax of the heads' mean softmax) of each candidate."""
    logits, _, _ = predict(model, data)
    z = logits - logits.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    guess: np.ndarray = p.mean(axis=1).argmax(axis=1)
    return guess


def class_recall(
    model: CandidateNet, data: CandidateSet, classes: tuple[str, ...]
) -> dict[str, float]:
    """Per class, the share of its candidates whose ensemble-mean class is right (NaN when
    absent)."""
    guess = mean_class(model, data)
    out = {}
    for k, name in enumerate(classes):
        mine = data.labels == k
        out[name] = float((guess[mine] == k).mean()) if mine.any() else math.nan
    return out


def finetune(
    champion_dir: Path,
    training_set: TrainingSet,
    out: Path,
    config: FinetuneConfig = FinetuneConfig(),
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    version: str | None = None,
) -> FinetuneResult:
    """Fine-tune the champion package at ``champion_dir`` on ``training_set``; write the new
    package (model, embeddings, scoring statistics) to ``out`` and check the vehicle runtime
    loads and runs it. ``version`` names the package (default ``retrain-<set>-s<seed>``)."""
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    champion = ModelPackage.load(champion_dir)
    decision = next_classes(
        champion.class_names,
        training_set.object_counts("train"),
        min_labels=config.min_labels,
        max_promoted=config.max_promoted,
    )
    classes = decision.classes
    params = champion.params
    train_set = set_candidates(training_set, "train", params, classes, cache_dir=cache_dir)
    val_set = set_candidates(training_set, "val", params, classes, cache_dir=cache_dir)
    counts = np.bincount(train_set.labels, minlength=len(classes))
    per_class = dict(zip(classes, (int(c) for c in counts), strict=True))
    log.info("fine-tuning candidates per class: %s", per_class)
    if len(val_set) == 0:
        raise TrainingError(f"training set {training_set.digest}: no validation candidates")
    t1 = time.perf_counter()
    clock["candidates"] = t1 - t0
    base = dict(champion.metadata["training"].get("config", {}))
    train_config = TrainConfig(
        seed=config.seed,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        ensemble_size=champion.ensemble_size,
        embedding_dim=champion.embedding_dim,
        width=int(base.get("width", TrainConfig.width)),
        head_dropout=float(base.get("head_dropout", TrainConfig.head_dropout)),
        box_loss_weight=float(base.get("box_loss_weight", TrainConfig.box_loss_weight)),
        jitter=config.jitter,
        threads=config.threads,
    )
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # same record + same data => same weights on CPU
    try:
        model = grow_classes(load_champion(champion), champion.class_names, classes, config.seed)
        result = train(
            train_set,
            len(classes),
            train_config,
            val=val_set,
            progress=progress,
            init=model,
            on_epoch=on_epoch,
        )
    finally:
        torch.use_deterministic_algorithms(deterministic)
    t2 = time.perf_counter()
    clock["train"] = t2 - t1
    model, review, promotion = _review(result.model, decision, val_set, config)
    if review.demoted:
        train_set = relabel(train_set, classes, review.classes)
        val_set = relabel(val_set, classes, review.classes)
        classes = review.classes
    digest = weights_digest(model)
    recall = class_recall(model, val_set, classes)
    training: dict[str, Any] = {
        "parent": champion.version,
        "parent_model_sha256": hashlib.sha256(champion.model_path.read_bytes()).hexdigest(),
        "dataset_digest": training_set.digest,
        "ontology": decision.as_json(),
        "promotion": promotion,
        "finetune": asdict(config),
        "epochs": config.epochs,
        "candidates_per_class": per_class,
        "history": result.history,
        "weights_sha256": digest,
        "new_class_rows": "mean of the foreground rows + noise; bias - log(#foreground)",
    }
    metrics = {
        **{k: v for k, v in result.history[-1].items() if k != "epoch"},
        "val_recall": recall,
    }
    package = write_package(
        out,
        model=model,
        config=train_config,
        params=params,
        classes=classes,
        train_set=train_set,
        val_set=val_set,
        training=training,
        metrics=metrics,
        version=version or f"retrain-{training_set.digest[:12]}-s{config.seed}",
    )
    ScoringStats.fit_package(out).save(out)
    t3 = time.perf_counter()
    clock["package"] = t3 - t2
    check_runtime(out, training_set)
    clock["runtime_check"] = time.perf_counter() - t3
    return FinetuneResult(
        package,
        classes,
        review.kept,
        result.history,
        digest,
        per_class,
        recall,
        clock,
        review.demoted,
        promotion,
    )


def _review(
    model: CandidateNet,
    decision: OntologyDecision,
    val_set: CandidateSet,
    config: FinetuneConfig,
) -> tuple[CandidateNet, PromotionReview, dict[str, Any]]:
    """The promotion review of the trained ``model`` on ``val_set`` (labels index
    ``decision.classes``), the model with the demoted classes' rows dropped, and the review as
    JSON with the demoted classes' ``unknown_foreground_share``."""
    classes = decision.classes
    counts = np.bincount(val_set.labels, minlength=len(classes))
    review = review_promotions(
        decision,
        class_recall(model, val_set, classes),
        dict(zip(classes, (int(c) for c in counts), strict=True)),
        min_recall=config.min_val_recall,
    )
    promotion: dict[str, Any] = {
        **review.as_json(),
        "max_promoted": config.max_promoted,
        "deferred": decision.deferred,
    }
    if review.demoted:
        model = drop_classes(model, classes, review.classes)
        share: dict[str, float | None] = {}
        for name in review.demoted:
            mine = val_set.labels == classes.index(name)
            seen = mean_class(model, val_set.take(mine)) > 0 if mine.any() else None
            share[name] = None if seen is None else float(seen.mean())
        promotion["unknown_foreground_share"] = share
        log.warning("demoted to unknown after training: %s", review.as_json()["verdicts"])
    return model, review, promotion


def check_runtime(package_dir: Path, training_set: TrainingSet) -> None:
    """Load the package as a vehicle does (package, scoring statistics, perception) and run
    one validation frame through it."""
    package = ModelPackage.load(package_dir)
    stats = ScoringStats.load(package_dir)
    if stats.n_classes != len(package.class_names):
        raise TrainingError(
            f"{package_dir}: scoring statistics for {stats.n_classes} classes, model has "
            f"{len(package.class_names)}"
        )
    group = training_set.dirs("val")[0]
    ds = Dataset(group)
    detections = Perception(package, providers=[CPU])(ds.points(ds.indices[0]))
    if detections.logits.shape[1:] != (package.ensemble_size, len(package.class_names)):
        raise TrainingError(f"{package_dir}: runtime logits {detections.logits.shape}")
