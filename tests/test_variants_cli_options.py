"""``variants`` with the ensemble options of predict/attribute: ``--replicates``, ``--mc`` and
``--precision``, each shown to reach the scores.

Truth: per-replicate runs of the same command (``--replicate r``) combined with numpy, and the
scores recomputed here from ``model.predict`` of the REF/ALT windows cut from the genome.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import demo_replicate_dir

from seqnn_engine.cli import main
from seqnn_engine.genomics.genome import Genome
from seqnn_engine.genomics.onehot import encode
from seqnn_engine.model.modeldir import load_model_dir

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"
POSITIONS = (30_000, 41_234)


@pytest.fixture(scope="module")
def rep_dir(tmp_path_factory):
    """The demo model with a second weights file (a seeded re-initialisation)."""
    return demo_replicate_dir(tmp_path_factory.mktemp("reps"), (11,), "demo x2")


@pytest.fixture(scope="module")
def vcf(tmp_path_factory):
    """Two SNVs on chr3 with the genome's base as REF; returns (path, [(pos, ref, alt)])."""
    rows = []
    with Genome(DEMO / "genome.fa.gz") as g:
        for p in POSITIONS:
            b = g.fetch("chr3", p - 1, p).sequence
            rows.append((p, b, "G" if b != "G" else "T"))
    path = tmp_path_factory.mktemp("vcf") / "v.vcf"
    path.write_text("#CHROM\tPOS\tID\tREF\tALT\n" + "".join(f"chr3\t{p}\ts{p}\t{r}\t{a}\n" for p, r, a in rows))
    return path, rows


def run(model, vcf_path, out, *extra) -> dict:
    args = ["variants", "--model", str(model), "--vcf", str(vcf_path), "--stats", "SUM,logSUM,D2", "--targets",
            "0,4,6", "--float32", "--quiet", "--out", str(out), *map(str, extra)]
    assert main(args) == 0
    with h5py.File(out, "r") as f:
        return {k: f[k][()] for k in f}


def windows(rows, L):
    with Genome(DEMO / "genome.fa.gz") as g:
        for p, r, a in rows:
            w = g.fetch("chr3", p - L // 2, p - L // 2 + L).sequence
            assert w[L // 2 - 1] == r
            yield w, w[:L // 2 - 1] + a + w[L // 2:]


def test_replicates_all_is_the_mean_of_per_replicate_runs(rep_dir, vcf, tmp_path):
    path, rows = vcf
    both = run(rep_dir, path, tmp_path / "all.h5", "--replicates", "all", "--save-preds", "--tsv-out",
               tmp_path / "all.tsv")
    parts = [run(rep_dir, path, tmp_path / f"r{r}.h5", "--replicate", r, "--save-preds") for r in (0, 1)]
    for k in ("SUM", "logSUM", "D2", "REF", "ALT"):
        stack = np.stack([p[k] for p in parts])
        np.testing.assert_allclose(both[k], stack.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(both[f"{k}_replicate_std"], stack.std(0, ddof=1), rtol=1e-4, atol=1e-6)
    assert not np.allclose(parts[0]["SUM"], parts[1]["SUM"])        # the replicates differ
    assert not list(tmp_path.glob("all.rep*.h5"))
    with h5py.File(tmp_path / "all.h5", "r") as f:
        assert json.loads(f.attrs["replicates"]) == [0, 1]
    lines = (tmp_path / "all.tsv").read_text().splitlines()
    assert len(lines) == 3 and float(lines[1].split("\t")[6]) == pytest.approx(float(both["SUM"][0, 0]), rel=1e-5)
    # a bad selection is refused with status 2
    assert main(["variants", "--model", str(rep_dir), "--vcf", str(path), "--replicates", "0,7", "--quiet",
                 "--out", str(tmp_path / "bad.h5")]) == 2


def test_mc_reaches_the_scores_and_is_reproducible_by_seed(vcf, tmp_path):
    path, rows = vcf
    plain = run(DEMO, path, tmp_path / "p.h5")
    mc = run(DEMO, path, tmp_path / "mc.h5", "--mc", 3, "--mc-seed", 4)
    again = run(DEMO, path, tmp_path / "mc2.h5", "--mc", 3, "--mc-seed", 4)
    other = run(DEMO, path, tmp_path / "mc3.h5", "--mc", 3, "--mc-seed", 5)
    np.testing.assert_array_equal(mc["SUM"], again["SUM"])
    assert not np.allclose(mc["SUM"], plain["SUM"]) and not np.allclose(mc["SUM"], other["SUM"])
    # the numbers: each window's prediction averaged over its 3 MC samples (REF and ALT in one call, as
    # score_windows predicts them)
    m = load_model_dir(DEMO)
    for i, (ref, alt) in enumerate(windows(rows, m.seq_length)):
        p = m.predict(np.stack([encode(ref), encode(alt)]), target_indexes=[0, 4, 6], mc_n=3, mc_seed=4).mean
        want = (p[1].astype(np.float64).sum(0) - p[0].astype(np.float64).sum(0))
        np.testing.assert_allclose(mc["SUM"][i], want, rtol=1e-4, atol=1e-5)


def test_precision_bfloat16_runs_and_is_close_to_float32(vcf, tmp_path):
    path, rows = vcf
    f32 = run(DEMO, path, tmp_path / "f.h5", "--save-preds")
    bf = run(DEMO, path, tmp_path / "b.h5", "--save-preds", "--precision", "bfloat16")
    assert not np.array_equal(bf["REF"], f32["REF"])                  # bfloat16 really computed
    r = np.corrcoef(bf["REF"].ravel(), f32["REF"].ravel())[0, 1]
    assert r > 0.99
    np.testing.assert_allclose(bf["REF"], f32["REF"], rtol=0.1, atol=0.05 * float(np.abs(f32["REF"]).max()))
    scale = float(np.abs(f32["SUM"]).max())
    np.testing.assert_allclose(bf["SUM"], f32["SUM"], atol=0.25 * scale)
