"""The target picker at scale (AppTest): groups, search, manifest defaults, stranded pairs, and
that changing the shown targets never calls the model for what is already computed.

The model is the tiny test architecture with a 600-target head (above the app's
ALL_TARGETS_LIMIT, so predictions are cached per target block) and a Borzoi-like targets.txt.
Model calls are counted by wrapping the real ``SeqModel.predict`` (numbers untouched)."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_app_support import DEFAULT_GENE, DEMO, REPO, TINY_PARAMS, dashboard_env

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

MAIN = str(REPO / "app" / "main.py")
N_WIDE = 600


def wide_rows() -> list:
    """(identifier, strand_pair, description) for 600 Borzoi-like targets."""
    rows = []
    for k in range(100):                        # 0..199 RNA +/- pairs
        rows += [(f"R{k}+", 2 * k + 1, f"RNA:tissue{k % 20}"), (f"R{k}-", 2 * k, f"RNA:tissue{k % 20}")]
    for k in range(50):                         # 200..299 CAGE +/- pairs
        i = 200 + 2 * k
        rows += [(f"C{k}+", i + 1, f"CAGE:cell{k % 10}"), (f"C{k}-", i, f"CAGE:cell{k % 10}")]
    for i in range(300, 600):
        assay = ("DNASE:cell{}" if i < 400 else "ATAC:cell{}" if i < 450 else
                 "CHIP:H3K27ac:cell{}" if i < 525 else "CHIP:H3K4me3:cell{}").format(i % 10)
        rows.append((f"U{i}", i, assay))
    return rows


def build_wide(root: Path, name: str, manifest_extra: dict) -> Path:
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights
    rows = wide_rows()
    params = copy.deepcopy(TINY_PARAMS)
    params["model"]["head"]["units"] = N_WIDE
    params["model"]["strand_pair"] = [[p for _, p, _ in rows]]
    d = root / name
    d.mkdir(parents=True)
    (d / "params.json").write_text(json.dumps(params))
    keras.utils.set_random_seed(11)
    save_weights(build_network(parse_params(d / "params.json"), 0).layers, d / "model.weights.h5")
    (d / "targets.txt").write_text(
        "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n"
        + "".join(f"{i}\t{a}\tf{i}\t768\t384\t1.0\tmean\t{p}\t{desc}\n" for i, (a, p, desc) in enumerate(rows)))
    for f in ("genome.fa.gz", "genome.fa.gz.fai", "genome.fa.gz.gzi", "genes.gtf"):
        shutil.copy(DEMO / f, d / f)
    (d / "manifest.json").write_text(json.dumps({
        "name": name, "genome": "genome.fa.gz", "genes": "genes.gtf", "targets": "targets.txt",
        "default_gene": DEFAULT_GENE, **manifest_extra}))
    return d.resolve()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with dashboard_env(tmp_path_factory) as d:
        wide = build_wide(d["root"], "wide", {"default_targets": ["R1-", "U305", 460]})
        bad = build_wide(d["root"], "wide_bad", {"default_targets": ["R1+", "no_such_target", 9999]})
        yield {"tiny": d["model_dir"], "wide": wide, "bad": bad}


@pytest.fixture
def calls(monkeypatch):
    """Counts real SeqModel.predict calls on full windows (target_indexes of each)."""
    from seqnn_engine.model.seqmodel import SeqModel
    real = SeqModel.predict
    log = []

    def counted(self, x, *a, **kw):
        if np.asarray(x).shape[1] == self.seq_length and np.asarray(x).any():   # not the all-N warm-up
            ti = kw.get("target_indexes")
            log.append(None if ti is None else [int(t) for t in ti])
        return real(self, x, *a, **kw)
    monkeypatch.setattr(SeqModel, "predict", counted)
    return log


def new_app(path, **state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=180)
    at.session_state["model_path"] = str(path)
    for k, v in state.items():
        at.session_state[k] = v
    return at


def no_problems(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def track_names(at) -> list:
    over = json.loads(at.get("plotly_chart")[0].proto.spec)
    return [tr["name"] for tr in over["data"] if tr.get("name") and not tr["name"].endswith(" sd")
            and tr["name"] not in ("introns", "exons", "strand", "gene names", "TSS")]


def downloaded_predictions(at) -> dict:
    from seqnn_engine.io.export import read_hdf5
    return read_hdf5(at.session_state["downloads"]["predictions"]["hdf5"].make())


def engine_prediction(model, gene: str) -> np.ndarray:
    from seqnn_engine.genomics.genes import GeneSet, gene_window
    from seqnn_engine.genomics.genome import Genome
    from seqnn_engine.genomics.onehot import encode
    gw = gene_window(GeneSet.read(DEMO / "genes.gtf").get(gene), model.seq_length, model.stride, model.crop)
    seq = Genome(DEMO / "genome.fa.gz").fetch(gw.chrom, gw.start, gw.end).sequence
    return model.predict(encode(seq)[None].astype(np.float32)).mean[0]


def test_changing_targets_reuses_computed_blocks(env, calls):
    from seqnn_engine import load_model_dir
    at = new_app(env["wide"])
    at.run()
    no_problems(at)
    # manifest default_targets: 'R1-' stands for its pair, drawn on the gene's strand (+)
    assert at.multiselect(key="targets").value == [2, 305, 460]
    assert track_names(at) == ["R1+", "U305", "U460"]
    # one model call, for the blocks of 128 targets the choice touches (0, 2 and 3)
    assert calls == [list(range(0, 128)) + list(range(256, 512))]
    ref = engine_prediction(load_model_dir(env["wide"]), DEFAULT_GENE)
    h5 = downloaded_predictions(at)
    assert h5["target_index"].tolist() == [2, 305, 460]
    np.testing.assert_allclose(h5["preds"], ref[:, [2, 305, 460]], rtol=1e-5, atol=1e-6)

    calls.clear()
    at.multiselect(key="targets").set_value([4, 300, 384, 460]).run()     # inside computed blocks
    no_problems(at)
    assert track_names(at) == ["R2+", "U300", "U384", "U460"] and calls == []
    at.radio(key="target_strand").set_value("-").run()                    # the other strand of the pairs
    assert track_names(at) == ["R2-", "U300", "U384", "U460"] and calls == []
    np.testing.assert_allclose(downloaded_predictions(at)["preds"], ref[:, [5, 300, 384, 460]], rtol=1e-5,
                               atol=1e-6)
    at.radio(key="target_strand").set_value("both").run()
    assert track_names(at) == ["R2+", "R2-", "U300", "U384", "U460"] and calls == []

    at.text_input(key="target_query").set_value("U590").run()              # find it, then pick it
    assert calls == []
    at.multiselect(key="targets").set_value([4, 590]).run()               # block 4 is new: one call for it
    no_problems(at)
    assert calls == [list(range(512, N_WIDE))]
    np.testing.assert_allclose(downloaded_predictions(at)["preds"], ref[:, [4, 5, 590]], rtol=1e-5, atol=1e-6)
    calls.clear()
    at.text_input(key="target_query").set_value("").run()
    at.multiselect(key="targets").set_value([2, 305]).run()               # back: nothing recomputed
    assert calls == [] and track_names(at) == ["R1+", "R1-", "U305"]


def test_search_and_group_filter(env):
    at = new_app(env["wide"])
    at.run()
    ms = at.multiselect(key="targets")
    # 450 display entries (pairs collapsed): the list is capped, and says so
    assert ms.value == [2, 305, 460] and len(ms.options) == 301     # the chosen + the first 300 matches
    assert any("450 of 450 targets match" in c.value and "first 300" in c.value for c in at.sidebar.caption)
    at.text_input(key="target_query").set_value("h3k4me3 cell7").run()
    no_problems(at)
    ms = at.multiselect(key="targets")
    labels = ms.options[len(ms.value):]
    want = [f"U{i} - CHIP:H3K4me3:cell7" for i in range(525, 600) if i % 10 == 7]
    assert labels == want
    assert any("8 of 450 targets match" in c.value for c in at.sidebar.caption)
    at.text_input(key="target_query").set_value("").run()
    at.selectbox(key="target_group").set_value("CAGE").run()
    ms = at.multiselect(key="targets")
    labels = ms.options[len(ms.value):]
    assert len(labels) == 50 and all("CAGE:" in s and " / C" in s for s in labels)
    # picking from the filtered list keeps the earlier choice
    before = list(ms.value)
    at.multiselect(key="targets").set_value(before + [210]).run()
    no_problems(at)
    assert at.multiselect(key="targets").value == before + [210]
    assert "C5+" in track_names(at)
    at.radio(key="page").set_value("Model").run()
    no_problems(at)
    assert any(c.value.startswith("RNA: 100 · CAGE: 50 · DNASE: 100 · ATAC: 50 · CHIP:H3K27ac: 75 · "
                                  "CHIP:H3K4me3: 75") for c in at.caption)


def test_bad_manifest_defaults_are_named_and_groups_are_used(env):
    at = new_app(env["bad"])
    at.run()
    errs = [e.value for e in at.error]
    assert len(errs) == 1 and "'no_such_target'" in errs[0] and "9999" in errs[0] and "R1+" not in errs[0]
    assert not at.exception
    # one target per assay group instead
    assert at.multiselect(key="targets").value == [0, 200, 300, 400, 450, 525]
    assert track_names(at) == ["R0+", "C0+", "U300", "U400", "U450", "U525"]


def test_small_head_is_computed_once_for_all_targets(env, calls):
    at = new_app(env["tiny"])
    at.run()
    no_problems(at)
    assert calls == [None]          # <= ALL_TARGETS_LIMIT targets: every target in one call
    calls.clear()
    at.multiselect(key="targets").set_value([0, 6]).run()
    at.multiselect(key="targets").set_value([3]).run()
    no_problems(at)
    assert calls == [] and track_names(at) == ["REST"]


def test_target_blocks_persist_and_assemble(env, calls, tmp_path):
    """Blocks computed by one server process are read from the result store by the next; the
    assembled columns equal the engine's prediction of the whole head, with RC members."""
    from seqnn_engine import load_model_dir
    from seqnn_engine.genomics.onehot import encode
    from seqnn_engine.session import Ensemble, Request, Session
    from seqnn_engine.batch.store import ResultStore
    model = load_model_dir(env["wide"])
    seq = "".join(np.random.default_rng(5).choice(list("ACGT"), model.seq_length))
    ens = Ensemble(rc=True)
    chosen = [599, 3, 130, 131]
    ses = Session(model=model, store=ResultStore(tmp_path / "store"))
    r = ses.predict(Request(seq, ens, tuple(chosen)))
    assert calls == [list(range(0, 256)) + list(range(512, 600))]
    assert r["target_index"].tolist() == [3, 130, 131, 599]
    full = model.predict(encode(seq)[None].astype(np.float32), rc=True, return_all=True)
    np.testing.assert_allclose(r["preds"], full.mean[0][:, [3, 130, 131, 599]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["members"], full.members[0][:, [3, 130, 131, 599]], rtol=1e-5, atol=1e-6)
    calls.clear()
    fresh = Session(model=model, store=ResultStore(tmp_path / "store"))      # a restarted server
    assert fresh.job("predict", Request(seq, ens, (300,))).cached() is None   # block 2 was never computed
    again = fresh.job("predict", Request(seq, ens, (131, 600 - 1, 0))).cached()
    assert again is not None and again.source == "store" and calls == []
    np.testing.assert_array_equal(again["preds"][:, 1:], r["preds"][:, 2:])     # the same stored numbers
    np.testing.assert_allclose(again["preds"], full.mean[0][:, [0, 131, 599]], rtol=1e-5, atol=1e-6)
