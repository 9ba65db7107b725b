"""The :class:`Job` of a session request: its store key, its cached result and its runner."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .options import Progress

@dataclass
class Job:
    """A request bound to a session: its store ``key``, its cached result (``cached()``, no
    computation), ``run(progress)`` (cached or computed, in the caller's thread) and
    ``submit(label)`` (computed by the process's work queue, admitted by the memory model).

    estimate: a callable giving the request's estimated peak bytes (the memory model's plan;
    it raises InputError when the request cannot fit the limit at all), or None for the model's
    weights as a floor.
    """

    key: str
    _peek: Callable
    _run: Callable
    members: int = 1
    estimate: Optional[Callable[[], int]] = None
    kind: str = ""
    model: object = None

    def cached(self):
        return self._peek()

    def run(self, progress: Progress = None):
        return self._run(progress)

    def estimate_bytes(self) -> int:
        """The request's estimated peak (bytes) before it starts."""
        if self.estimate is not None:
            return int(self.estimate())
        if self.model is not None:
            from ..memory import weights_bytes
            return int(weights_bytes(self.model))
        return 0

    def queued(self) -> bool:
        """Whether the dashboard should queue this job: its estimate is above
        :func:`seqnn_engine.batch.queue.queue_above_bytes` (``SEQNN_QUEUE_ABOVE_MB``, default 512)."""
        from ..batch.queue import queue_above_bytes
        return self.estimate_bytes() > queue_above_bytes()

    def submit(self, label: str, queue=None):
        """Queue the computation (``queue`` default :func:`seqnn_engine.batch.queue.default_queue`):
        a :class:`~seqnn_engine.batch.queue.Ticket` with position, time estimate, progress and cancel.
        The same key already queued or running gives its ticket (one computation for every session)."""
        from ..batch.queue import default_queue
        q = queue or default_queue()

        def work(progress):
            return self._run(lambda done, total: progress(done / total if total else 0.0, f"{done:,} / {total:,}"))

        return q.submit(work, estimate_bytes=self.estimate_bytes(), label=label, kind=self.kind or label,
                        key=self.key)
