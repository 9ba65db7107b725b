"""Ensemble statistics, MC dropout, model state, threads and input errors of the model room."""
import json
import threading

import h5py
import numpy as np
import pytest

from conftest import shared_path
from seqnn_engine import InputError, load_model
from seqnn_engine.model.ensemble import RunningStats, members, shift_onehot, unaugment_input
from seqnn_engine.model.build import build_network
from seqnn_engine.model.spec import ParamsWarning, parse_params
from seqnn_engine.model.weights import save_weights
from seqnn_engine.genomics.onehot import encode, reverse_complement


@pytest.fixture(scope="module")
def tx():
    d = shared_path("compat", "tx")
    return load_model(d / "params.json", d / "model0.h5"), np.load(d / "reference.npz")


def test_welford_equals_numpy_over_members(tx):
    m, ref = tx
    p = m.predict(ref["seqs"], rc=True, shifts=(-2, 0, 3), return_var=True, return_all=True)
    assert p.members.shape[-1] == 6
    np.testing.assert_allclose(p.mean, p.members.mean(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.var, p.members.var(-1, ddof=1), rtol=1e-4, atol=1e-7)


def test_running_stats_hand_case():
    rs = RunningStats((1, 3))
    for v in ([1, 2, 3], [3, 2, 1], [2, 2, 8]):
        rs.update(0, np.array(v, float))
    np.testing.assert_allclose(rs.mean[0], [2, 2, 4])
    np.testing.assert_allclose(rs.variance()[0], [1, 0, 13])


def test_mc_dropout_members_differ_and_average_to_plain(tx):
    m, ref = tx
    bn = [v.numpy().copy() for v in m.net.model.weights if "moving" in v.path]
    assert bn
    x = ref["seqs"][:1]
    plain = m.predict(x).mean
    p = m.predict(x, mc_n=32, return_all=True, return_var=True, batch_size=8)
    assert p.members.shape[-1] == 32
    assert np.abs(p.members[..., 0] - p.members[..., 1]).max() > 1e-3
    assert (p.var > 0).mean() > 0.5
    # the MC mean is close to the plain prediction (dropout is unbiased in expectation)
    rel = np.abs(p.mean - plain).mean() / np.abs(plain).mean()
    assert rel < 0.1, rel
    # reproducible for a seed; different for another seed
    again = m.predict(x, mc_n=32, batch_size=8).mean
    np.testing.assert_array_equal(again, p.mean)
    other = m.predict(x, mc_n=32, batch_size=8, mc_seed=1).mean
    assert np.abs(other - p.mean).max() > 0
    # BatchNorm moving statistics are untouched by MC and ensembles; plain prediction unchanged
    m.predict(x, rc=True, shifts=(-1, 0, 1), mc_n=2)
    after = [v.numpy() for v in m.net.model.weights if "moving" in v.path]
    for a, b in zip(bn, after):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(x).mean, plain)


def test_mc_without_dropout_is_an_input_error():
    spec = {"model": {"seq_length": 256, "trunk": [{"name": "conv_dna", "filters": 8, "kernel_size": 5,
                                                     "pool_size": 8}], "head": {"name": "final", "units": 2}}}
    net_model = _model_from_params(spec)
    with pytest.raises(InputError, match="dropout"):
        net_model.predict(np.zeros((1, 256, 4), np.float32), mc_n=2)


def test_two_threads_give_serial_results(tx):
    m, ref = tx
    rng = np.random.default_rng(0)
    xs = [rng.permutation(ref["seqs"], axis=1) for _ in range(4)]
    opts = [dict(rc=True), dict(shifts=(-1, 0, 1)), dict(mc_n=3), dict(target_indexes=[2, 0])]
    serial = [m.predict(x, **o).mean for x, o in zip(xs, opts)]
    out = [None] * 4

    def run(i):
        for _ in range(2):
            out[i] = m.predict(xs[i], **opts[i]).mean
    th = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    [t.start() for t in th]
    [t.join() for t in th]
    for a, b in zip(out, serial):
        np.testing.assert_array_equal(a, b)


def test_target_selection_and_down_sample(tx):
    m, ref = tx
    x = ref["seqs"][:2]
    full = m.predict(x).mean
    np.testing.assert_allclose(m.predict(x, target_indexes=[3, 1]).mean, full[..., [3, 1]], rtol=1e-6)
    ds = m.predict(x, down_sample=4).mean
    np.testing.assert_allclose(ds, full.reshape(2, -1, 4, 4).mean(2), rtol=1e-5, atol=1e-7)
    with pytest.raises(InputError, match="out of range"):
        m.predict(x, target_indexes=[4])
    with pytest.raises(InputError, match="divide"):
        m.predict(x, down_sample=5)
    with pytest.raises(InputError, match="bp"):
        m.predict(np.zeros((1, 100, 4), np.float32))


def test_shift_and_rc_helpers():
    x = encode("ACGTTGCA")[None]
    assert shift_onehot(x, 2)[0, :2].sum() == 0 and (shift_onehot(x, 2)[0, 2:] == x[0, :-2]).all()
    assert (shift_onehot(x, -3)[0, :5] == x[0, 3:]).all() and shift_onehot(x, -3)[0, 5:].sum() == 0
    mm = members(rc=True, shifts=(-1, 0, 1))
    assert len(mm) == 6
    for mem in mm:
        from seqnn_engine.model.ensemble import augment
        g = augment(x, mem)  # treat the augmented input as a 'gradient' and map it back
        back = unaugment_input(g, mem)
        s = mem.shift
        keep = slice(max(0, -s), x.shape[1] - max(0, s))
        np.testing.assert_array_equal(back[0, keep], x[0, keep])
    np.testing.assert_array_equal(reverse_complement(reverse_complement(x)), x)


# ------------------------------------------------------------------ bad files and params
def _model_from_params(params, tmp=None):
    spec = parse_params(params)
    net = build_network(spec, 0)
    from seqnn_engine.model.seqmodel import SeqModel
    return SeqModel(spec, net, 0)


def test_unknown_block_names_supported_blocks():
    with pytest.raises(InputError, match=r"unknown block 'conv_magic'.*conv_dna.*res_tower"):
        _model_from_params({"model": {"seq_length": 64, "trunk": [{"name": "conv_magic"}],
                                      "head": {"name": "final", "units": 1}}})


def test_unknown_parameter_warns():
    with pytest.warns(ParamsWarning, match="'filterz'"):
        _model_from_params({"model": {"seq_length": 64, "trunk": [
            {"name": "conv_dna", "filters": 4, "filterz": 3}], "head": {"name": "final", "units": 1}}})


@pytest.mark.parametrize("text,msg", [("{", "not valid JSON"), ("[]", "'model'"), ('{"model": {}}', "seq_length"),
                                      ('{"model": {"seq_length": 64, "trunk": []}}', "trunk"),
                                      ('{"model": {"seq_length": 64, "trunk": [{"name": "conv_dna"}]}}', "head")])
def test_bad_params(tmp_path, text, msg):
    p = tmp_path / "params.json"
    p.write_text(text)
    with pytest.raises(InputError, match=msg):
        parse_params(p)


def test_weight_file_errors(tmp_path):
    d = shared_path("compat", "tx")
    small = shared_path("compat", "small")
    # wrong model's weights: names the counts and the first differing layer
    with pytest.raises(InputError, match=r"does not match params.json.*layers with .* weight arrays.*first"):
        load_model(d / "params.json", small / "model0.h5")
    with pytest.raises(InputError, match="does not match"):
        load_model(d / "params.json", small / "model0.weights.h5")
    # head 1 weights into head 0
    with pytest.raises(InputError, match="does not match"):
        load_model(d / "params.json", d / "model1.h5", head=0)
    # truncated file
    raw = (d / "model0.h5").read_bytes()
    t = tmp_path / "trunc.h5"
    t.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(InputError, match="truncated|not a readable"):
        load_model(d / "params.json", t)
    # garbage, empty and missing
    g = tmp_path / "garbage.h5"
    g.write_bytes(b"\x00not hdf5" * 100)
    with pytest.raises(InputError):
        load_model(d / "params.json", g)
    e = tmp_path / "empty.h5"
    e.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_model(d / "params.json", e)
    with pytest.raises(InputError, match="not found"):
        load_model(d / "params.json", tmp_path / "nope.h5")
    # HDF5 without weights
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(InputError, match="no Keras weights"):
        load_model(d / "params.json", tmp_path / "other.h5")
    # a legacy file named *.weights.h5 loads (format from content) and a head index out of range
    c = tmp_path / "legacy.weights.h5"
    c.write_bytes(raw)
    m = load_model(d / "params.json", c)
    ref = np.load(d / "reference.npz")
    np.testing.assert_allclose(m.predict(ref["seqs"]).mean, ref["preds_head0"], rtol=1e-4, atol=1e-5)
    with pytest.raises(InputError, match="head"):
        load_model(d / "params.json", c, head=5)


def test_keras3_weights_round_trip(tmp_path, tx):
    m, ref = tx
    out = tmp_path / "saved.weights.h5"
    save_weights(m.net.layers, out)
    d = shared_path("compat", "tx")
    m2 = load_model(d / "params.json", out)
    np.testing.assert_array_equal(m2.predict(ref["seqs"]).mean, m.predict(ref["seqs"]).mean)


def test_model_dir_and_strand_pairs_from_targets(tmp_path):
    """A model directory loads; targets.txt strand pairs are used when params.json has none."""
    import shutil
    from seqnn_engine import load_model_dir
    d = shared_path("compat", "small")
    md = tmp_path / "m"
    md.mkdir()
    shutil.copy(d / "params.json", md / "params.json")
    shutil.copy(d / "model0.h5", md / "model0.h5")
    rows = ["\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription"]
    for i, (ident, pair) in enumerate([("a+", 1), ("a-", 0), ("b", 2), ("c", 3)]):
        rows.append(f"{i}\t{ident}\tf\t32\t2\t1\tsum\t{pair}\tdesc {i}")
    (md / "targets.txt").write_text("\n".join(rows) + "\n")
    (md / "manifest.json").write_text(json.dumps({"name": "tiny", "weights": ["model0.h5"]}))
    m = load_model_dir(md)
    assert m.name == "tiny" and list(m.strand_pair) == [1, 0, 2, 3]
    (md / "manifest.json").write_text(json.dumps({"weights": ["../../etc/passwd"]}))
    with pytest.raises(InputError, match="outside"):
        load_model_dir(md)
