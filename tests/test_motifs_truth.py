"""benchmarks/motif_truth.py's scoring of seqlets against planted sites, on a hand-made case."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from motif_truth import seqlet_recovery  # noqa: E402

from tools.demo.groundtruth import HeldOutWindows, SiteTable  # noqa: E402
from seqnn_engine.motifs.seqlet_table import MotifMatches, SeqletTable  # noqa: E402


def test_recovery_counts_by_hand():
    L, crop = 1000, 100
    W = HeldOutWindows(np.array(["chr3", "chr3"]), np.array([0, 1000]), np.zeros((2, L, 4), np.float32), crop)
    sites = {"chr3": SiteTable(
        start=np.array([200, 500, 950, 1300, 1600, 1700]), end=np.array([215, 515, 965, 1315, 1615, 1712]),
        name=np.array(["CTCF", "CTCF", "CTCF", "CTCF", "GATA1", "SPI1"]),
        driver=np.array([True, True, True, True, False, True]))}
    # window 0: CTCF at 200 (found, right ID 2nd), 500 (missed), 950 (centre in the crop: not counted);
    # window 1: CTCF at 1300 (found, wrong IDs), GATA1 decoy at 1600 (called), SPI1 at 1700 (a seqlet)
    rows = [(0, 205, 220, 1), (0, 950, 960, 1), (0, 400, 410, -1), (1, 300, 320, 1), (1, 598, 612, 1),
            (1, 700, 712, -1)]
    n = len(rows)
    t = SeqletTable(seq=np.array([r[0] for r in rows]), start=np.array([r[1] for r in rows]),
                    end=np.array([r[2] for r in rows]), sign=np.array([r[3] for r in rows], np.int8),
                    score=np.ones(n), p_value=np.linspace(1e-9, 1e-8, n), p_adj=np.zeros(n))
    ids = np.array([["MA0080.7", "MA0139.2", ""], ["MA0139.2", "", ""], ["", "", ""], ["MA0035.5", "", ""],
                    ["MA0035.5", "", ""], ["MA0080.7", "", ""]], dtype=object)
    m = MotifMatches(ids, ids, np.zeros((n, 3)), np.zeros((n, 3)), np.full((n, 3), "+"), np.zeros((n, 3), int))
    r = seqlet_recovery(t.with_matches(m), W, sites, "CTCF", "MA0139.2")
    assert (r.n_sites, r.recovered) == (3, 2)           # 200, 500, 1300 counted; 950 is in the crop
    assert r.on_own == 3                                 # seqlets on 200, 950, 1300
    assert (r.id_top3, r.id_top1) == (1, 0)
    assert (r.n_decoy_sites, r.decoy_called, r.on_decoys) == (1, 1, 1)
    assert (r.positive, r.negative, r.on_own_positive) == (4, 2, 3)
    # centred in the output span [100, 900) of its window: all but the seqlet at 950-960 of window 0
    assert (r.n_seqlets_span, r.on_own_span) == (5, 2) and abs(r.precision_span - 0.4) < 1e-12
    assert abs(r.recall - 2 / 3) < 1e-12 and abs(r.precision - 0.5) < 1e-12 and abs(r.precision_positive - 0.75) < 1e-12


def test_tuning_windows_come_from_a_training_chromosome():
    import pytest

    from motif_truth import tuning_windows
    from seqnn_engine.errors import InputError
    from tools.demo import demo_dir
    from tools.demo.groundtruth import held_out_windows

    w = tuning_windows(demo_dir(), 4096, 256, limit=3)
    assert list(w.chrom) == ["chr2"] * 3 and w.start.tolist() == [0, 4096, 8192] and w.x.shape == (3, 4096, 4)
    assert np.all(w.x.sum(-1) <= 1) and w.crop_bp == 256
    held = held_out_windows(demo_dir(), 4096, 256, limit=1)
    assert set(held.chrom) == {"chr3"}
    with pytest.raises(InputError, match="training chromosome"):
        tuning_windows(demo_dir(), 4096, 256, chrom="chr3")


def test_validation_genome_is_new_sequence_with_planted_sites(tmp_path):
    import pytest

    from motif_truth import validation_genome
    from tools.demo import demo_dir
    from tools.demo.genome_gen import SEED
    from tools.demo.groundtruth import held_out_windows, site_tables

    g = validation_genome(tmp_path / "v", seed=5, size=200_000)
    w = held_out_windows(g, 4096, 256)
    demo = held_out_windows(demo_dir(), 4096, 256, limit=len(w))
    assert len(w) == 200_000 // 4096 and set(w.chrom) == {"chr3"}
    assert np.mean(w.x.argmax(-1) == demo.x.argmax(-1)) < 0.5        # not the held-out sequence (~0.25 by chance)
    st = site_tables(g)["chr3"]
    assert st.driver.sum() > 10 and set(st.name[st.driver]) <= {"CTCF", "SPI1", "CEBPB", "REST"}
    with pytest.raises(ValueError, match="shipped demo genome"):
        validation_genome(tmp_path / "d", seed=SEED)
