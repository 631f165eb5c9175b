"""The annotation stage's services of one process, as ``backend.wiring`` assembles them."""

from __future__ import annotations

from dataclasses import dataclass

from backend.annotation.builder import TaskBuilder
from backend.annotation.editing import LabelEditor
from backend.annotation.gold import GoldKeeper
from backend.annotation.queue import WorkQueue
from backend.annotation.workflow import Workflow


@dataclass(frozen=True)
class AnnotationServices:
    """Task building, the queue, label editing, the workflow and gold."""

    builder: TaskBuilder
    queue: WorkQueue
    editor: LabelEditor
    workflow: Workflow
    gold: GoldKeeper
