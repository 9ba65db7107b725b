"""The bounded, memory-admitted worker pool (seqnn_engine.batch.queue).

Work functions are plain Python functions synchronised with events, so every ordering
below is forced, not timed: a test never depends on how fast the machine is.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from seqnn_engine.batch.queue import CANCELLED, DONE, FAILED, Cancelled, WorkQueue
from seqnn_engine.errors import InputError

MB = 2**20


def _gate():
    """A work function that records it started, then waits for its release."""
    started, release = threading.Event(), threading.Event()

    def fn(progress):
        started.set()
        assert release.wait(10)
        progress(1.0)
        return "ok"

    return fn, started, release


def test_requests_beyond_the_memory_budget_never_run_together():
    q = WorkQueue(workers=2, budget_bytes=100 * MB)
    f1, s1, r1 = _gate()
    f2, s2, r2 = _gate()
    a = q.submit(f1, estimate_bytes=60 * MB, label="a")
    assert s1.wait(5)
    b = q.submit(f2, estimate_bytes=60 * MB, label="b")   # 60 + 60 > 100: waits for a
    assert not s2.wait(0.2)
    assert b.status == "queued" and b.position == 0
    r1.set()
    assert a.result(5) == "ok"
    assert s2.wait(5)
    r2.set()
    assert b.result(5) == "ok" and b.status == DONE


def test_requests_within_the_budget_run_in_parallel_up_to_the_workers():
    q = WorkQueue(workers=2, budget_bytes=100 * MB)
    gates = [_gate() for _ in range(3)]
    tickets = [q.submit(f, estimate_bytes=10 * MB, label=f"r{i}") for i, (f, _, _) in enumerate(gates)]
    assert gates[0][1].wait(5) and gates[1][1].wait(5)
    assert not gates[2][1].wait(0.2)          # only 2 workers
    assert tickets[2].position == 0
    for _, _, r in gates:
        r.set()
    assert [t.result(5) for t in tickets] == ["ok"] * 3


def test_first_come_first_served_and_positions():
    q = WorkQueue(workers=1, budget_bytes=100 * MB)
    f0, s0, r0 = _gate()
    order = []
    t0 = q.submit(f0, estimate_bytes=90 * MB, label="big")
    assert s0.wait(5)
    big2 = q.submit(lambda p: order.append("big2"), estimate_bytes=90 * MB, label="big2")
    small = q.submit(lambda p: order.append("small"), estimate_bytes=1 * MB, label="small")
    assert (big2.position, small.position) == (0, 1)
    assert t0.position == -1
    r0.set()
    small.wait(5)
    big2.wait(5)
    assert order == ["big2", "small"]          # the small request does not overtake the head


def test_a_request_larger_than_the_budget_is_refused_with_the_variable_named():
    q = WorkQueue(workers=1, budget_bytes=100 * MB)
    with pytest.raises(InputError, match="SEQNN_MAX_MEMORY_MB") as e:
        q.submit(lambda p: None, estimate_bytes=101 * MB, label="saliency of 7,611 targets")
    assert "101 MB" in str(e.value) and "100 MB" in str(e.value)


def test_cancel_a_queued_request_it_never_starts():
    q = WorkQueue(workers=1, budget_bytes=100 * MB)
    f0, s0, r0 = _gate()
    ran = []
    q.submit(f0, estimate_bytes=1, label="first")
    assert s0.wait(5)
    t = q.submit(lambda p: ran.append(1), estimate_bytes=1, label="second")
    t.cancel()
    assert t.status == CANCELLED and t.finished
    r0.set()
    after = q.submit(lambda p: "after", estimate_bytes=1, label="third")
    assert after.result(5) == "after"
    assert ran == []
    with pytest.raises(Cancelled):
        t.result(1)


def test_cancel_a_running_request_stops_at_its_next_progress_call():
    q = WorkQueue(workers=1, budget_bytes=100 * MB)
    started, go_on = threading.Event(), threading.Event()
    steps = []

    def fn(progress):
        for i in range(100):
            progress(i / 100, f"step {i}")
            steps.append(i)
            if i == 3:
                started.set()
                assert go_on.wait(5)
        return "finished"

    t = q.submit(fn, estimate_bytes=1, label="long")
    assert started.wait(5)
    assert t.status == "running" and t.message == "step 3" and t.progress == pytest.approx(0.03)
    t.cancel()
    go_on.set()
    t.wait(5)
    assert t.status == CANCELLED and steps == [0, 1, 2, 3]


def test_errors_reach_the_caller_and_the_queue_goes_on():
    q = WorkQueue(workers=1, budget_bytes=100 * MB)

    def bad(progress):
        raise InputError("targets 9000 do not exist: the model has 8")

    t = q.submit(bad, estimate_bytes=1, label="bad")
    t.wait(5)
    assert t.status == FAILED
    with pytest.raises(InputError, match="do not exist"):
        t.result()
    assert q.submit(lambda p: 7, estimate_bytes=1, label="next").result(5) == 7


class _Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_time_estimates_from_finished_requests_of_the_same_kind():
    clock = _Clock()
    q = WorkQueue(workers=1, budget_bytes=100 * MB, clock=clock)

    def takes(seconds):
        def fn(progress):
            clock.t += seconds
        return fn

    q.submit(takes(10.0), estimate_bytes=1, label="s1", kind="saliency").wait(5)
    q.submit(takes(30.0), estimate_bytes=1, label="s2", kind="saliency").wait(5)
    assert q.mean_seconds("saliency") == pytest.approx(20.0)

    f0, s0, r0 = _gate()
    head = q.submit(f0, estimate_bytes=1, label="running", kind="saliency")
    assert s0.wait(5)
    clock.t += 5.0                          # 5 s into a request expected to take 20 s
    queued = [q.submit(lambda p: None, estimate_bytes=1, label=f"q{i}", kind="saliency") for i in range(2)]
    assert head.eta_seconds == pytest.approx(15.0)
    assert queued[0].eta_seconds == pytest.approx(15.0 + 20.0)
    assert queued[1].eta_seconds == pytest.approx(15.0 + 40.0)
    unknown = q.submit(lambda p: None, estimate_bytes=1, label="u", kind="ism")
    assert unknown.eta_seconds is None      # nothing known of 'ism' and no guess given
    r0.set()
    for t in [head, *queued, unknown]:
        t.wait(5)


def test_eta_follows_reported_progress():
    clock = _Clock()
    q = WorkQueue(workers=1, budget_bytes=100 * MB, clock=clock)
    at_quarter, release = threading.Event(), threading.Event()

    def fn(progress):
        clock.t += 30.0
        progress(0.25)
        at_quarter.set()
        assert release.wait(5)

    t = q.submit(fn, estimate_bytes=1, label="x", kind="new", seconds=10.0)
    assert at_quarter.wait(5)
    assert t.eta_seconds == pytest.approx(90.0)   # 30 s for a quarter: 90 s to go
    release.set()
    t.wait(5)
    assert t.eta_seconds == 0.0


def test_bad_configuration_is_an_input_error(monkeypatch):
    with pytest.raises(InputError, match="at least 1 worker"):
        WorkQueue(workers=0, budget_bytes=MB)
    with pytest.raises(InputError, match="SEQNN_MAX_MEMORY_MB"):
        WorkQueue(workers=1, budget_bytes=0)
    for bad in ("-1", "20", "ten"):
        monkeypatch.setenv("SEQNN_WORKER_NICE", bad)
        with pytest.raises(InputError, match="SEQNN_WORKER_NICE must be a whole number from 0 to 19"):
            WorkQueue(workers=1, budget_bytes=MB)


NICE_PROBE = """
import json, os, threading
import numpy as np
import tensorflow as tf
from seqnn_engine.batch.queue import WorkQueue
x = tf.ones((512, 512))
float(tf.reduce_sum(x @ x))                      # TensorFlow's compute pool exists from here on
python = lambda: {t.native_id for t in threading.enumerate()}
native = lambda: [int(t) for t in os.listdir("/proc/self/task") if int(t) not in python()]
nice = lambda tid: os.getpriority(os.PRIO_PROCESS, tid)
before = {"native": [nice(t) for t in native()], "main": nice(threading.get_native_id())}
page = {}
def a_page():                                   # a Python thread like a page's script run
    page["before"] = nice(threading.get_native_id())
    assert go.wait(30)
    page["after"] = nice(threading.get_native_id())
go = threading.Event()
th = threading.Thread(target=a_page)
th.start()
def work(progress):
    me = threading.get_native_id()
    float(tf.reduce_sum(x @ x))
    return {"worker": nice(me), "native": [nice(t) for t in native() if t != me]}
inside = WorkQueue(workers=1, budget_bytes=1 << 20, nice=NICE).submit(work, estimate_bytes=1, label="w").result(60)
go.set()
th.join()
print(json.dumps({"before": before, "inside": inside, "page": page, "main": nice(threading.get_native_id())}))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread priorities are read from /proc (Linux)")
@pytest.mark.parametrize("nice", [7, 0])
def test_queued_work_runs_at_a_lower_cpu_priority_than_the_pages(nice):
    """The worker thread and the native compute threads (TensorFlow's pool) run queued work at the
    queue's niceness; Python threads (pages, the main thread) keep theirs; nice=0 changes nothing.
    In a fresh interpreter, so this test process keeps its own priorities."""
    import json
    import os
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", f"NICE = {nice}\n" + NICE_PROBE], capture_output=True, text=True,
                         timeout=300, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)})
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    base = os.getpriority(os.PRIO_PROCESS, 0)              # what the child started with
    assert r["before"]["native"] and set(r["before"]["native"]) == {base}
    assert r["inside"]["worker"] == max(base, nice)
    assert r["inside"]["native"] and set(r["inside"]["native"]) == {max(base, nice)}
    assert r["page"] == {"before": base, "after": base}    # a page's thread is never slowed down
    assert r["main"] == base


def test_the_same_key_gives_the_same_ticket_while_in_flight():
    q = WorkQueue(workers=1, budget_bytes=100 * MB)
    f0, s0, r0 = _gate()
    calls = []
    a = q.submit(f0, estimate_bytes=1, label="a", key="k1")
    b = q.submit(lambda p: calls.append(1), estimate_bytes=1, label="again", key="k1")
    assert b is a
    assert s0.wait(5)
    r0.set()
    assert a.result(5) == "ok"
    c = q.submit(lambda p: "fresh", estimate_bytes=1, label="after", key="k1")   # finished: computed anew
    assert c is not a and c.result(5) == "fresh" and calls == []


def test_warm_up_runs_only_for_models_below_the_queue_threshold(tmp_path, monkeypatch):
    """A heavy model's warm-up (a prediction and a saliency map run outside the queue, in the first
    page's thread) is skipped: its first requests are queued and trace there. A light model is traced."""
    import json

    from seqnn_engine import memory
    from seqnn_engine.model import load_model
    from seqnn_engine.session import Session
    from test_app_support import TINY_PARAMS

    (tmp_path / "params.json").write_text(json.dumps(TINY_PARAMS))
    heavy = Session(model=load_model(tmp_path / "params.json", None, seed=0))
    m = heavy.model
    need = max(memory.predict_plan(m, 1, 1, batch_size=1).peak_bytes,
               memory.attribution_plan(m, "saliency", 1, batch_size=1, n_targets=1).peak_bytes)
    assert need > MB
    monkeypatch.setenv("SEQNN_QUEUE_ABOVE_MB", str(need / MB * 0.99))   # the model's need is just above
    assert heavy.warm_up() is False
    assert m._predict_fn.experimental_get_tracing_count() == 0           # nothing was run or traced
    monkeypatch.setenv("SEQNN_QUEUE_ABOVE_MB", str(need / MB * 1.01))   # now just below
    light = Session(model=load_model(tmp_path / "params.json", None, seed=0))
    assert light.warm_up() is True
    assert light.model._predict_fn.experimental_get_tracing_count() == 1
    assert heavy.warm_up(max_bytes=need) is True                         # an explicit bound wins
