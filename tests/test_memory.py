"""Bounded memory: 200 sequential distinct requests through the engine session's cache layers
(seqnn_engine.session.Session -> seqnn_engine.result_cache.ResultCache, an in-process LRU bounded in
bytes, in front of seqnn_engine.batch.store.ResultStore, bounded on disk) keep the process's resident memory within a stated bound, and both caches evict.

Stated bound (also in benchmarks/RESULTS.md, section "load"): after a 20-request warm-up (tracing of
the compiled functions, allocator pools), 200 further distinct requests (predictions with mixed
ensembles and input attributions) may grow the resident set size by at most RSS_GROWTH_BOUND_MB.
The results they produce (~85 MiB) total several times the cache bounds and over twice the RSS
bound, so without eviction the test fails.
"""
from __future__ import annotations

import gc
import json

import numpy as np
import pytest

RSS_GROWTH_BOUND_MB = 32
MEMORY_CACHE_BYTES = 8 << 20     # 8 MiB in-process LRU
STORE_BYTES = 16 << 20           # 16 MiB on disk
N_WARM, N_REQUESTS = 20, 200

PARAMS = {"model": {
    "seq_length": 4096, "activation": "gelu", "norm_type": "batch", "bn_momentum": 0.9,
    "trunk": [{"name": "conv_dna", "filters": 16, "kernel_size": 11, "pool_size": 4, "norm_type": None},
              {"name": "res_tower", "filters_init": 16, "filters_end": 24, "divisible_by": 8, "kernel_size": 5,
               "num_convs": 1, "pool_size": 2, "repeat": 3},
              {"name": "dilated_residual", "filters": 16, "rate_mult": 2, "repeat": 2, "dropout": 0.1,
               "kernel_size": 3},
              {"name": "Cropping1D", "cropping": 8}],
    "head": {"name": "final", "units": 8, "activation": "softplus"},
}}


def rss_bytes() -> int:
    """Current resident set size of this process (VmRSS in /proc/self/status; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import keras

    from seqnn_engine import load_model
    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights
    d = tmp_path_factory.mktemp("mem")
    (d / "params.json").write_text(json.dumps(PARAMS))
    keras.utils.set_random_seed(5)
    save_weights(build_network(parse_params(PARAMS), 0).layers, d / "w.weights.h5")
    return load_model(d / "params.json", d / "w.weights.h5")


def _request(ses, i: int):
    """Request i: a distinct sequence; kinds and options cycle like a user clicking around."""
    from seqnn_engine.session import Ensemble, Request
    model = ses.model
    rng = np.random.default_rng(1000 + i)
    seq = "".join(rng.choice(list("ACGT"), model.seq_length))
    ens = [Ensemble(), Ensemble(rc=True), Ensemble(shifts=(-1, 0, 1)), Ensemble(mc_n=2)][i % 4]
    if i % 3 == 2:
        r = ses.attribute(Request(seq, Ensemble(rc=bool(i % 2)), (i % 8,)))
        assert r["scores"].shape == (model.seq_length, 4)
    elif i % 3 == 1:   # the layer view: all 8 targets at the input and the first block (~1.2 MiB each)
        r = ses.layer_gradients(Request(seq, Ensemble(rc=bool(i % 2)), tuple(range(8))), [0, 1])
        assert r["grads_0"].shape == (8, model.seq_length, 4)
    else:
        r = ses.predict(Request(seq, ens))
        assert r["preds"].shape == (model.target_length, model.num_targets)
    return r


def test_200_distinct_requests_bounded_rss_and_caches_evict(model, tmp_path):
    from seqnn_engine.session import Session
    from seqnn_engine.batch.store import ResultStore
    store = ResultStore(tmp_path / "store", max_bytes=STORE_BYTES)
    ses = Session(model=model, store=store, memory_bytes=MEMORY_CACHE_BYTES)
    cache = ses.cache
    for i in range(N_WARM):
        _request(ses, -1 - i)
    gc.collect()
    rss0 = rss_bytes()
    produced = 0
    samples = []
    for i in range(N_REQUESTS):
        r = _request(ses, i)
        assert r.source == "computed"          # distinct requests: never a hit
        produced += r.nbytes
        del r
        if i % 20 == 19:
            gc.collect()
            samples.append(rss_bytes() - rss0)
            assert cache._bytes <= MEMORY_CACHE_BYTES
            assert store.size_bytes() <= STORE_BYTES
    growth = max(samples)
    print(f"\nRSS after warm-up {rss0 / 2**20:.0f} MiB; growth over {N_REQUESTS} requests "
          f"{[round(s / 2**20, 1) for s in samples]} MiB; results produced {produced / 2**20:.1f} MiB; "
          f"memory cache {cache._bytes / 2**20:.2f} MiB in {len(cache)} entries; store "
          f"{store.size_bytes() / 2**20:.2f} MiB")
    # the results would not fit the caches: eviction really happened at both levels
    assert produced > 2 * RSS_GROWTH_BOUND_MB * 2**20 and produced > 4 * STORE_BYTES
    assert len(cache) < N_REQUESTS // 2
    assert growth <= RSS_GROWTH_BOUND_MB * 2**20, f"RSS grew {growth / 2**20:.1f} MiB"
    # the early results were evicted from memory; the latest is still served from memory
    assert cache.peek(_key_of(ses, N_REQUESTS - 1)).source == "memory"


def _key_of(ses, i):
    from seqnn_engine.session import Ensemble, Request
    rng = np.random.default_rng(1000 + i)
    seq = "".join(rng.choice(list("ACGT"), ses.model.seq_length))
    if i % 3 == 2:
        return ses.attribution_key(Request(seq, Ensemble(rc=bool(i % 2)), (i % 8,)))
    if i % 3 == 1:
        return ses.layers_key(Request(seq, Ensemble(rc=bool(i % 2)), tuple(range(8))), [0, 1])
    ens = [Ensemble(), Ensemble(rc=True), Ensemble(shifts=(-1, 0, 1)), Ensemble(mc_n=2)][i % 4]
    return ses.prediction_key(Request(seq, ens))
