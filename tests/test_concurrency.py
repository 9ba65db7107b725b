"""Concurrent sessions share one process-wide model per directory (as the dashboard's
``st.cache_resource`` does). Several threads calling the engine at once, with mixed reverse complement,
shifts, MC dropout, targets, attribution methods, layer gradients and two different models, must get
exactly the arrays a serial run gives; no session sees another's inputs or results; and every weight
and BatchNorm moving statistic (every model variable) is unchanged afterwards.

The dashboard version runs 3 AppTest sessions at once in threads against the same server process
(shared model, shared result cache) and checks each session's HDF5 download of its own gene and
options against a serial engine run. benchmarks/load_test.py does the same with real browsers.
"""
from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from test_app_support import DEMO, REPO, build_model_root, dashboard_env

SESSIONS = 3

OTHER_PARAMS = {"model": {   # a second, different architecture (layer norm, no dropout, 3 targets)
    "seq_length": 2048, "activation": "relu", "norm_type": "layer",
    "trunk": [{"name": "conv_dna", "filters": 12, "kernel_size": 9, "pool_size": 8},
              {"name": "conv_tower", "filters_init": 12, "filters_mult": 1.25, "repeat": 2, "kernel_size": 5,
               "pool_size": 2},
              {"name": "dilated_residual", "filters": 8, "rate_mult": 2, "repeat": 2, "kernel_size": 3},
              {"name": "Cropping1D", "cropping": 4}],
    "head": {"name": "final", "units": 3, "activation": "softplus"},
}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import keras

    from seqnn_engine import load_model, load_model_dir
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights
    root = tmp_path_factory.mktemp("conc")
    a = load_model_dir(build_model_root(root))
    (root / "other.json").write_text(json.dumps(OTHER_PARAMS))
    keras.utils.set_random_seed(11)
    net = build_network(parse_params(OTHER_PARAMS), 0)
    save_weights(net.layers, root / "other.weights.h5")
    b = load_model(root / "other.json", root / "other.weights.h5")
    assert a.has_dropout and not b.has_dropout and a.seq_length != b.seq_length
    return {"A": a, "B": b}


def _x(L, seed):
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (1, L))]
    x[0, rng.integers(0, L, 20)] = 0.0      # a few N
    return x


def _jobs(models):
    """(name, model key, input seed, kind, options): distinct inputs so cross-talk would show."""
    return [
        ("a_pred_rc_shift", "A", 1, "predict", dict(rc=True, shifts=(-1, 0, 1))),
        ("a_pred_mc", "A", 2, "predict", dict(mc_n=4, return_var=True)),
        ("a_pred_targets", "A", 3, "predict", dict(target_indexes=[6, 7, 0], rc=True)),
        ("a_sal_rc", "A", 4, "attribute", dict(method="saliency", targets=[6, 7], rc=True, positions="center")),
        ("a_gxi_mc", "A", 5, "attribute", dict(method="grad_x_input", targets=[0], mc_n=2, statistic="log")),
        ("a_layers", "A", 6, "gradients", dict(layers=[0, 3], targets=[1, 4], shifts=(0, 1))),
        ("a_ism", "A", 7, "attribute", dict(method="ism", targets=[2], window=(2000, 2016), diagnostics=False)),
        ("b_pred", "B", 8, "predict", dict(rc=True, shifts=(0, 2))),
        ("b_pred_plain", "B", 9, "predict", dict()),
        ("b_sal", "B", 10, "attribute", dict(method="saliency", targets=[1], shifts=(-1, 0))),
        ("b_layers", "B", 11, "gradients", dict(layers=[2], targets=[0, 2])),
        ("b_ig", "B", 12, "attribute", dict(method="integrated_gradients", targets=[0], n_steps=4,
                                            diagnostics=False)),
    ]


def _run(models, job) -> dict:
    name, key, seed, kind, opts = job
    m = models[key]
    x = _x(m.seq_length, seed)
    if kind == "predict":
        p = m.predict(x, **opts)
        out = {"mean": p.mean}
        if p.var is not None:
            out["var"] = p.var
        return out
    if kind == "attribute":
        a = m.attribute(x, **opts)
        return {"scores": a.scores, "hyp": a.hypothetical, "objective": a.objective}
    g = m.gradients(x, **opts)
    return {**{f"g{i}": a for i, a in enumerate(g.grads)}, **{f"r{i}": a for i, a in enumerate(g.reprs)},
            "preds": g.preds}


def _state(m) -> list:
    """Every variable of the model (weights, BatchNorm moving mean/variance, any RNG state)."""
    return [np.array(v.numpy(), copy=True) for v in m.net.model.variables]


def test_concurrent_sessions_equal_serial_and_leave_models_unchanged(models):
    jobs = _jobs(models)
    before = {k: _state(m) for k, m in models.items()}
    assert any("moving_mean" in v.path for v in models["A"].net.model.variables)
    serial = {j[0]: _run(models, j) for j in jobs}

    # each session runs every job of its share plus two shared ones, in its own random order, twice
    rng = random.Random(0)
    shares = [jobs[i::SESSIONS] + [jobs[0], jobs[7]] for i in range(SESSIONS)]
    plans = []
    for s in range(SESSIONS):
        plan = shares[s] * 2
        rng.shuffle(plan)
        plans.append(plan)
    start = threading.Barrier(SESSIONS)

    def session(plan):
        start.wait()
        return [(j[0], _run(models, j)) for j in plan]

    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(session, plans))
    n = 0
    for plan, res in zip(plans, results):
        assert [r[0] for r in res] == [j[0] for j in plan]
        for name, arrays in res:
            ref = serial[name]
            assert arrays.keys() == ref.keys()
            for k in ref:
                np.testing.assert_array_equal(arrays[k], ref[k], err_msg=f"{name}/{k}")
            n += 1
    assert n == sum(len(p) for p in plans)
    for k, m in models.items():
        after = _state(m)
        assert len(after) == len(before[k])
        for v, b, a in zip(m.net.model.variables, before[k], after):
            np.testing.assert_array_equal(a, b, err_msg=f"model {k}: variable {v.path} changed")


def test_results_are_not_aliased_between_calls(models):
    """Arrays handed to one caller are its own: modifying them does not change another call's result."""
    m = models["A"]
    x = _x(m.seq_length, 3)
    p1 = m.predict(x, rc=True)
    keep = p1.mean.copy()
    p1.mean[...] = -1
    p2 = m.predict(x, rc=True)
    np.testing.assert_array_equal(p2.mean, keep)


# ----------------------------------------------------------------------------------- dashboard (AppTest)

SESSION_OPTIONS = [   # (gene id, rc, shift slider k, MC samples, targets)
    ("DEMOG00129", True, 1, 0, [0, 6, 7]),
    ("DEMOG00135", False, 0, 3, [1, 2]),
    ("DEMOG00129", False, 2, 0, [4]),      # same gene as session 0, different options
]


def test_dashboard_sessions_at_once(tmp_path_factory):
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    from seqnn_engine import load_model_dir
    from seqnn_engine.io.export import read_hdf5
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode
    with dashboard_env(tmp_path_factory) as e:
        model_dir = e["model_dir"]
        import app.state
        shared = app.state.model(str(model_dir))     # the process-wide instance every session uses
        before = _state(shared)

        def session(opts):
            gene, rc, k, mc, targets = opts
            at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=300)
            at.session_state["model_path"] = str(model_dir)
            at.session_state["gene"] = gene
            at.session_state["ens_rc"] = rc
            at.session_state["ens_shifts"] = k
            at.session_state["ens_mc"] = mc
            at.session_state["targets"] = targets
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            assert not at.error, [e.value for e in at.error]
            return read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())

        with ThreadPoolExecutor(len(SESSION_OPTIONS)) as pool:
            got = list(pool.map(session, SESSION_OPTIONS))
        assert app.state.model(str(model_dir)) is shared

    model = load_model_dir(model_dir)      # an independent instance for the serial reference
    genes = GeneSet.read(DEMO / "genes.gtf")
    with Genome(DEMO / "genome.fa.gz") as gen:
        for (gene, rc, k, mc, targets), h5 in zip(SESSION_OPTIONS, got):
            gw = gene_window(genes.get(gene), model.seq_length, model.stride, model.crop)
            assert h5.attrs["window_start"] == gw.start and h5.attrs["chrom"] == gw.chrom
            x = encode(gen.fetch(gw.chrom, gw.start, gw.end).sequence)[None]
            ref = model.predict(x, rc=rc, shifts=tuple(range(-k, k + 1)), mc_n=mc).mean[0]
            np.testing.assert_array_equal(h5["preds"], ref, err_msg=f"{gene} {rc} {k} {mc}")
    # sessions 0 and 2 show the same gene with different ensembles: different numbers, each its own
    assert not np.array_equal(got[0]["preds"], got[2]["preds"])
    for v, b, a in zip(shared.net.model.variables, before, _state(shared)):
        np.testing.assert_array_equal(a, b, err_msg=f"shared model variable {v.path} changed")
