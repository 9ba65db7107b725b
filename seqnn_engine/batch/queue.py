"""A bounded worker pool for heavy requests, admitted by the memory model.

One process (a dashboard server, a notebook) shares one :class:`WorkQueue`. A request is
submitted with its memory estimate (:class:`seqnn_engine.memory.Estimate` ``.peak_bytes``
or plain bytes) and returns a :class:`Ticket` at once; the caller polls the ticket (or
waits on it) while other requests, e.g. views of cached results, go on.

Admission (first come, first served):

- at most ``workers`` requests run at a time;
- the head of the queue starts only when its estimate plus the estimates of the running
  requests fit ``budget_bytes`` (default: the engine's memory limit, ``SEQNN_MAX_MEMORY_MB``,
  minus ``reserve_bytes`` for what the process already holds);
- a request whose estimate alone exceeds the budget is refused at submission with an
  :class:`~seqnn_engine.errors.InputError` naming the estimate, the budget and the variable;
- a later, smaller request never overtakes the head (no starvation of large requests).

Progress and cancel are cooperative: the work function receives a ``progress(fraction,
message="")`` callable, which records progress and raises :class:`Cancelled` once the
ticket has been cancelled. A queued ticket that is cancelled never starts.

CPU priority: the work runs at a lower CPU priority than the pages (``nice``, default
``SEQNN_WORKER_NICE`` = 10; 0 leaves it): before each request the worker thread raises its own
niceness and that of the process's native compute threads (the threads Python's ``threading``
did not start: TensorFlow's and BLAS's pools, which do the heavy arithmetic), so a page's Python
thread, at niceness 0, gets a core at once while a Borzoi gradient runs (Linux; elsewhere a
no-op). Python threads (the pages, the server's event loop) are never changed.

Time estimates: each request has a ``kind`` (e.g. ``"saliency"``); the queue keeps the
mean duration of finished requests per kind and uses it (or the caller's ``seconds``
guess) for :attr:`Ticket.eta_seconds`: the expected wait until this ticket finishes,
counting the running requests' remaining time (from their progress) and the queued ones
ahead of it, spread over the workers.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..errors import InputError

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class Cancelled(Exception):
    """Raised inside a work function (by its progress callback) after its ticket was cancelled."""


@dataclass(eq=False)
class Ticket:
    """One submitted request.

    label: what the user asked for (shown while queued). kind: the group for time
    estimates. estimate_bytes: its admitted peak. status: 'queued', 'running', 'done',
    'failed' or 'cancelled'. progress: fraction done in [0, 1]; message: the work's last
    progress message. error: the exception of a failed request. Read :attr:`position` and
    :attr:`eta_seconds` for the queue's view of it.
    """

    label: str
    kind: str
    estimate_bytes: int
    seconds_guess: Optional[float]
    _queue: "WorkQueue" = field(repr=False)
    _fn: Callable = field(repr=False)
    number: int = 0
    status: str = QUEUED
    progress: float = 0.0
    message: str = ""
    error: Optional[BaseException] = None
    submitted_at: float = 0.0
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    _value: Any = field(default=None, repr=False)
    _cancel: bool = field(default=False, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def position(self) -> int:
        """Requests ahead of this one in the queue (0: next to start); -1 once it has started."""
        return self._queue._position(self)

    @property
    def eta_seconds(self) -> Optional[float]:
        """Expected seconds until this request finishes (None when nothing is known yet)."""
        return self._queue._eta(self)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def cancel(self) -> None:
        """Cancel: a queued request never starts; a running one stops at its next progress call."""
        self._queue._cancel(self)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until finished (or ``timeout`` seconds); True when finished."""
        return self._done.wait(timeout)

    def result(self, timeout: Optional[float] = None):
        """The work function's return value; re-raises its error; :class:`Cancelled` if cancelled."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.label!r} is still {self.status}")
        if self.status == CANCELLED:
            raise Cancelled(self.label)
        if self.status == FAILED:
            raise self.error
        return self._value


class WorkQueue:
    """A first-come-first-served pool of ``workers`` threads admitted by memory.

    workers: requests running at once (>= 1). budget_bytes: the memory the running
    requests may hold together (default: the engine's limit in force, minus ``reserve_bytes``).
    clock: a monotonic time source (tests inject one). nice: the niceness the work runs at
    (default :func:`worker_nice`; 0: unchanged).
    """

    def __init__(self, workers: int = 1, budget_bytes: Optional[int] = None, reserve_bytes: int = 0,
                 clock: Callable[[], float] = time.monotonic, nice: Optional[int] = None):
        if int(workers) < 1:
            raise InputError(f"a work queue needs at least 1 worker, got {workers}")
        self.workers = int(workers)
        self.nice = worker_nice() if nice is None else int(nice)
        self._budget = None if budget_bytes is None else int(budget_bytes)
        self.reserve_bytes = int(reserve_bytes)
        if self.budget_bytes <= 0:
            raise InputError("the work queue's memory budget is not positive: raise SEQNN_MAX_MEMORY_MB")
        self._clock = clock
        self._lock = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: list[Ticket] = []
        self._durations: dict[str, list[float]] = {}
        self._by_key: dict[str, Ticket] = {}
        self._numbers = itertools.count(1)
        self._threads = [threading.Thread(target=self._worker, name=f"seqnn-work-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()

    @property
    def budget_bytes(self) -> int:
        """The memory the running requests may hold together: the given budget, else the engine's
        limit in force now (``SEQNN_MAX_MEMORY_MB``) minus ``reserve_bytes``."""
        if self._budget is not None:
            return self._budget
        from ..memory import limit_bytes
        return limit_bytes() - self.reserve_bytes

    # -- submission -----------------------------------------------------------------------
    def submit(self, fn: Callable[[Callable], Any], *, estimate_bytes: int, label: str, kind: str = "",
               seconds: Optional[float] = None, key: Optional[str] = None) -> Ticket:
        """Queue ``fn(progress)``; returns its :class:`Ticket` without waiting.

        estimate_bytes: the request's peak from the memory model. seconds: an optional
        guess of its duration (used until requests of this kind have finished). key: the
        request's identity (e.g. its store key): while a ticket of the same key is queued or
        running, submitting again returns that ticket instead of computing twice.
        """
        if key is not None:
            with self._lock:
                t = self._by_key.get(key)
                if t is not None and not t.finished and not t._cancel:
                    return t
        est = int(getattr(estimate_bytes, "peak_bytes", estimate_bytes))
        if est > self.budget_bytes:
            raise InputError(
                f"{label} needs an estimated {est / 2**20:,.0f} MB, more than the "
                f"{self.budget_bytes / 2**20:,.0f} MB the server may use for requests: ask for less "
                "(fewer targets, members or positions, or a shorter window) or raise SEQNN_MAX_MEMORY_MB")
        t = Ticket(label=label, kind=kind or label, estimate_bytes=est, seconds_guess=seconds, _queue=self, _fn=fn)
        with self._lock:
            t.number = next(self._numbers)
            t.submitted_at = self._clock()
            self._waiting.append(t)
            if key is not None:
                self._by_key[key] = t
            self._lock.notify_all()
        return t

    # -- the queue's view of a ticket ------------------------------------------------------
    def _position(self, t: Ticket) -> int:
        with self._lock:
            try:
                return self._waiting.index(t)
            except ValueError:
                return -1

    def mean_seconds(self, kind: str) -> Optional[float]:
        """Mean duration of the finished requests of ``kind`` (None before the first)."""
        with self._lock:
            d = self._durations.get(kind)
            return sum(d) / len(d) if d else None

    def _expected(self, t: Ticket) -> Optional[float]:
        d = self._durations.get(t.kind)
        return sum(d) / len(d) if d else t.seconds_guess

    def _remaining(self, t: Ticket, now: float) -> Optional[float]:
        """Seconds left of a running (or queued) request: from its progress once it reports some."""
        if t.started_at is not None and t.progress > 0.02:
            return (now - t.started_at) * (1.0 - t.progress) / t.progress
        exp = self._expected(t)
        if exp is None:
            return None
        return max(exp - (now - t.started_at), 0.0) if t.started_at is not None else exp

    def _eta(self, t: Ticket) -> Optional[float]:
        with self._lock:
            if t.finished:
                return 0.0
            now = self._clock()
            if t.status == RUNNING:
                return self._remaining(t, now)
            lanes = sorted(self._remaining(r, now) or 0.0 for r in self._running)
            lanes += [0.0] * (self.workers - len(lanes))
            for q in self._waiting:
                exp = self._expected(q)
                if exp is None:
                    return None
                lanes.sort()
                lanes[0] += exp
                if q is t:
                    return lanes[0]
            return None

    def snapshot(self) -> dict:
        """{'running': [labels], 'queued': [labels], 'held_bytes': int} (for a status line)."""
        with self._lock:
            return {"running": [r.label for r in self._running], "queued": [q.label for q in self._waiting],
                    "held_bytes": sum(r.estimate_bytes for r in self._running)}

    # -- cancel ----------------------------------------------------------------------------
    def _cancel(self, t: Ticket) -> None:
        with self._lock:
            t._cancel = True
            if t.status == QUEUED and t in self._waiting:
                self._waiting.remove(t)
                self._finish(t, CANCELLED)
            self._lock.notify_all()

    # -- workers ---------------------------------------------------------------------------
    def _admissible(self) -> bool:
        if not self._waiting or len(self._running) >= self.workers:
            return False
        held = sum(r.estimate_bytes for r in self._running)
        return held + self._waiting[0].estimate_bytes <= self.budget_bytes

    def _finish(self, t: Ticket, status: str) -> None:
        for k, v in list(self._by_key.items()):
            if v is t:
                del self._by_key[k]
        t.status = status
        t.finished_at = self._clock()
        t._done.set()

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._admissible():
                    self._lock.wait()
                t = self._waiting.popleft()
                t.status = RUNNING
                t.started_at = self._clock()
                self._running.append(t)
            if self.nice > 0:
                lower_compute_priority(self.nice)   # threads a library started since the last request too

            def progress(fraction: float = 0.0, message: str = "", _t=t) -> None:
                if _t._cancel:
                    raise Cancelled(_t.label)
                _t.progress = float(min(max(fraction, 0.0), 1.0))
                if message:
                    _t.message = str(message)

            status, value, error = DONE, None, None
            try:
                value = t._fn(progress)
            except Cancelled:
                status = CANCELLED
            except BaseException as e:  # noqa: BLE001 - handed to the caller through the ticket
                status, error = FAILED, e
            with self._lock:
                self._running.remove(t)
                t._value, t.error = value, error
                if status == DONE:
                    t.progress = 1.0
                    self._durations.setdefault(t.kind, []).append(self._clock() - t.started_at)
                self._finish(t, status)
                self._lock.notify_all()


QUEUE_ABOVE_MB = 512
WORKER_NICE = 10


def worker_nice() -> int:
    """The niceness queued work runs at (``SEQNN_WORKER_NICE``, default 10, 0..19; 0: unchanged)."""
    import os
    v = os.environ.get("SEQNN_WORKER_NICE", "")
    try:
        n = int(v) if v.strip() else WORKER_NICE
    except ValueError:
        n = -1
    if not 0 <= n <= 19:
        raise InputError(f"SEQNN_WORKER_NICE must be a whole number from 0 to 19, got {v!r}")
    return n


def lower_compute_priority(nice: int) -> int:
    """Raise to ``nice`` the niceness of the calling thread and of every native thread of this
    process (a thread not started by Python's ``threading``: TensorFlow's and BLAS's compute pools);
    Python threads other than the caller keep theirs. Linux only (elsewhere 0). Returns the number of
    threads changed. Niceness is only ever raised, never lowered."""
    import os
    if not hasattr(os, "setpriority") or not os.path.isdir("/proc/self/task"):
        return 0
    me = threading.get_native_id()
    python = {t.native_id for t in threading.enumerate()} - {me}
    changed = 0
    for name in os.listdir("/proc/self/task"):
        tid = int(name)
        if tid in python:
            continue
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
        except OSError:      # the thread has ended meanwhile
            pass
    return changed


def queue_above_bytes() -> int:
    """Requests estimated above this many bytes go through the queue in the dashboard
    (``SEQNN_QUEUE_ABOVE_MB``, default 512); lighter ones run at once in the caller's thread,
    so a cheap view never waits behind a Borzoi gradient."""
    import os
    v = os.environ.get("SEQNN_QUEUE_ABOVE_MB", "")
    try:
        mb = float(v) if v.strip() else QUEUE_ABOVE_MB
    except ValueError:
        raise InputError(f"SEQNN_QUEUE_ABOVE_MB must be a number of MB, got {v!r}") from None
    return int(mb * 2**20)


_DEFAULT: Optional[WorkQueue] = None
_DEFAULT_LOCK = threading.Lock()


def default_queue() -> WorkQueue:
    """The process's shared queue: ``SEQNN_WORKERS`` workers (default 1), the engine's memory limit.

    The budget is the limit in force minus this process's resident memory when the queue was
    created (the interpreter, TensorFlow and what was loaded by then).
    """
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            import os
            workers = os.environ.get("SEQNN_WORKERS", "1")
            try:
                n = int(workers)
            except ValueError:
                raise InputError(f"SEQNN_WORKERS must be a whole number of workers, got {workers!r}") from None
            _DEFAULT = WorkQueue(workers=n, reserve_bytes=resident_bytes())
        return _DEFAULT


def resident_bytes() -> int:
    """This process's resident set size now, in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
