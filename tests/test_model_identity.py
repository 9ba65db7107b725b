"""Seeded random weights and the model's identity (one digest over everything that changes a number)."""
import random
import shutil

import numpy as np
import pytest

from conftest import REPO, shared_path
from seqnn_engine import InputError, load_model, load_model_dir
from seqnn_engine.batch.cache_keys import prediction_key
from seqnn_engine.batch.store import model_digest

DEMO = REPO / "assets" / "demo"


def _weights(m):
    return [v.numpy() for v in m.net.model.weights]


def test_random_weights_are_seeded_and_independent_of_global_state():
    import keras
    d = shared_path("compat", "tx")
    a = load_model(d / "params.json", None, seed=0)
    random.seed(123)                                           # the weights do not depend on global state
    np.random.seed(5)
    keras.utils.set_random_seed(99)
    b = load_model(d / "params.json", None, seed=0)
    c = load_model(d / "params.json", None, seed=1)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(np.array_equal(u, v) for u, v in zip(wa, wb))
    random_arrays = [i for i, (u, v) in enumerate(zip(wa, wc)) if not np.array_equal(u, v)]
    # every array drawn by a random initializer differs (kernels, attention biases), constants do not
    trained = load_model(d / "params.json", d / "model0.h5")
    assert len(random_arrays) >= 20 and a.n_params == trained.n_params
    for i, (u, v) in enumerate(zip(wa, _weights(trained))):
        assert u.shape == v.shape
    # the initializers of params.json are used: he/lecun-normal kernels have std ~ sqrt(k / fan_in)
    k = a.net.layers[0].kernel.numpy()                         # conv_dna: lecun_normal, fan_in = 11 * 4
    assert abs(k.std() / np.sqrt(1.0 / (11 * 4)) - 1) < 0.2
    x = np.load(d / "reference.npz")["seqs"]
    pa, pb, pc = (m.predict(x).mean for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert np.isfinite(pa).all() and not np.allclose(pa, pc)
    assert a.seed == 0 and a.digest != c.digest and a.digest != trained.digest and "random weights" in a.name


def test_random_weights_options_and_model_dir(tmp_path):
    d = shared_path("compat", "small")
    with pytest.raises(InputError, match="weights_path=None"):
        load_model(d / "params.json", d / "model0.h5", seed=3)
    md = tmp_path / "arch"
    md.mkdir()
    shutil.copy(d / "params.json", md / "params.json")
    with pytest.raises(InputError, match="no weights file.*random"):
        load_model_dir(md)                                     # only when asked for explicitly
    with pytest.raises(InputError, match="random_weights=True"):
        load_model_dir(md, seed=2)
    m = load_model_dir(md, random_weights=True, seed=2)
    assert m.seed == 2 and m.digest == load_model(d / "params.json", None, seed=2).digest
    # random weights also for a directory that has weights, only when asked
    full = tmp_path / "full"
    shutil.copytree(md, full)
    shutil.copy(d / "model0.h5", full / "model0.h5")
    assert load_model_dir(full, random_weights=True, seed=2).digest == m.digest
    assert load_model_dir(full).digest != m.digest


def test_cli_random_weights_and_precision(tmp_path):
    from seqnn_engine.cli import main
    from seqnn_engine.io.export import read_hdf5
    d = shared_path("compat", "small")
    fa = tmp_path / "s.fa"
    fa.write_text(">a\n" + "ACGTTGCA" * 512 + "\n")
    out = tmp_path / "p.h5"
    rc = main(["predict", "--params", str(d / "params.json"), "--random-weights", "--seed", "4", "--fasta", str(fa),
               "--float32", "--quiet", "--out", str(out)])
    assert rc == 0
    from seqnn_engine.genomics.onehot import encode
    want = load_model(d / "params.json", None, seed=4).predict(encode("ACGTTGCA" * 512)[None]).mean
    np.testing.assert_allclose(read_hdf5(out)["preds"], want, rtol=1e-5, atol=1e-6)
    assert main(["predict", "--params", str(d / "params.json"), "--weights", str(d / "model0.h5"), "--precision",
                 "half", "--fasta", str(fa), "--quiet", "--out", str(tmp_path / "q.h5")]) != 0
    assert main(["predict", "--params", str(d / "params.json"), "--weights", str(d / "model0.h5"), "--seed", "1",
                 "--fasta", str(fa), "--quiet", "--out", str(tmp_path / "q.h5")]) != 0


def _copy_demo(dst):
    dst.mkdir()
    for f in ("params.json", "model.weights.h5", "targets.txt"):
        shutil.copy(DEMO / f, dst / f)
    return dst


def test_digest_covers_targets_precision_seed_and_is_the_store_key(tmp_path):
    md = _copy_demo(tmp_path / "m")
    base = load_model_dir(md)
    w = sorted(md.glob("*.h5"))[0]
    assert base.digest == model_digest(md / "params.json", w, 0, md / "targets.txt", precision="float32")
    # halving one clip_soft in targets.txt changes the identity (it changes untransformed objectives)
    lines = (md / "targets.txt").read_text().splitlines()
    cols = lines[0].split("\t")
    ci = cols.index("clip_soft")
    row = lines[1].split("\t")
    row[ci] = str(float(row[ci]) / 2)
    (md / "targets.txt").write_text("\n".join([lines[0], "\t".join(row)] + lines[2:]) + "\n")
    halved = load_model_dir(md)
    assert halved.digest != base.digest
    assert load_model_dir(md, precision="bfloat16").digest not in (halved.digest, base.digest)
    # a renamed copy keeps its identity (contents, not names)
    other = tmp_path / "renamed"
    shutil.copytree(md, other)
    assert load_model_dir(other).digest == halved.digest
    # seeds and heads
    p = md / "params.json"
    assert model_digest(p, None, seed=0) != model_digest(p, None, seed=1)
    assert model_digest(p, None, seed=0) != model_digest(p, None, seed=0, precision="bfloat16")
    assert model_digest(p, [], seed=0) == model_digest(p, None, seed=0)
    with pytest.raises(InputError):
        model_digest(p, None)
    with pytest.raises(InputError):
        model_digest(p, w, seed=0)
    # store keys (CLI and dashboard) follow the digest
    seq = "ACGT" * (base.seq_length // 4)
    keys = {prediction_key(m, seq) for m in (base, halved)}
    assert len(keys) == 2
