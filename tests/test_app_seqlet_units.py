"""Units of the dashboard's seqlet layer (no Streamlit runtime, no model): cache keys and levels,
the round trip of a seqlet result through the cache against the engine's own table and the
seqlet downloads (seqlet boxes on figures: tests/test_plot.py)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("memelite")
pytest.importorskip("seqnn_engine.motifs.annotate")

from app import downloads  # noqa: E402
from seqnn_engine.batch import cache_keys  # noqa: E402
from seqnn_engine.batch.result_cache import Result  # noqa: E402
from seqnn_engine.session import SEQLET_OPTIONS, MotifDatabase, Request, Session, onehot, seqlet_table  # noqa: E402

L = 600
SITE = (200, 212)       # a planted CTCF-like run of strong positive contribution


@pytest.fixture(scope="module")
def planted():
    """A random sequence with the CTCF consensus at SITE and hypothetical scores that reward it."""
    from seqnn_engine.motifs.meme import jaspar
    rng = np.random.default_rng(0)
    seq = list(rng.choice(list("ACGT"), L))
    ctcf = jaspar().probs[jaspar().index("MA0139.2")]
    a, _ = SITE
    w = min(ctcf.shape[0], SITE[1] - SITE[0])
    for i in range(w):
        seq[a + i] = "ACGT"[int(np.argmax(ctcf[i]))]
    seq = "".join(seq)
    x = onehot(seq)[0]
    hyp = rng.normal(0, 0.05, (L, 4)).astype(np.float32)
    hyp[a:a + w] += 2.0 * x[a:a + w]            # the present base of the site contributes strongly
    hyp -= hyp.mean(1, keepdims=True)
    attr = Result("attr", {"scores": hyp, "grads": hyp, "objective": np.float32(1.0)})
    return seq, x, hyp, attr


def test_seqlet_result_cached_by_digest_and_equal_to_engine_table(planted, tmp_path):
    from seqnn_engine.motifs.annotate import annotate_seqlets
    from seqnn_engine.motifs.meme import meme_text
    from seqnn_engine.motifs.seqlets import call_seqlets
    from seqnn_engine.batch.store import ResultStore
    seq, x, hyp, attr = planted
    db = MotifDatabase.jaspar()
    ses = Session(store=ResultStore(tmp_path / "store"))
    req = Request(seq, method="saliency")
    r = ses.seqlets(attr, req, db, targets_label="CTCF")
    assert r.source == "computed"
    assert ses.seqlets(attr, req, db, targets_label="CTCF").source == "memory"
    ses.cache.clear_memory()
    again = ses.seqlets(attr, req, db, targets_label="CTCF")
    assert again.source == "store"
    # the key follows the attribution, the database's bytes and the caller's options
    mine = MotifDatabase.parse(meme_text(db.motifs.subset(["MA0139.2", "MA0080.7"])).encode(), "two.meme")
    opts = dict(SEQLET_OPTIONS)
    keys = {cache_keys.seqlets_key("attr", db.digest, opts), cache_keys.seqlets_key("other", db.digest, opts),
            cache_keys.seqlets_key("attr", mine.digest, opts),
            cache_keys.seqlets_key("attr", db.digest, {**opts, "alpha": 0.01})}
    assert len(keys) == 4 and r.key == cache_keys.seqlets_key("attr", db.digest, opts)

    # the placed table read back from the store equals the engine's own calls on the same arrays
    tab = seqlet_table(again, "chrT", 1000, {"chrT": 5000})
    ref = call_seqlets(hyp[None], onehot=x[None], **{k: SEQLET_OPTIONS[k]
                                                     for k in ("alpha", "min_len", "max_len", "flank", "merge_gap")})
    ref = annotate_seqlets(ref, x[None], hypothetical=hyp[None], motifs=db.motifs, top=3).place(["chrT"], [1000])
    assert tab.to_bed() == ref.to_bed()
    assert len(tab) >= 1
    best = int(np.argmin(tab.p_value))
    assert tab.genome_start[best] < 1000 + SITE[1] and tab.genome_end[best] > 1000 + SITE[0]
    assert "MA0139.2" in list(tab.matches.ids[best])


def test_bad_meme_upload_is_an_input_error():
    from seqnn_engine import InputError
    with pytest.raises(InputError, match="bad.meme"):
        MotifDatabase.parse(b"MEME version 4\n\nMOTIF A\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5\n",
                            "bad.meme")
    with pytest.raises(InputError, match="not a text file"):
        MotifDatabase.parse(b"\xff\xfe\x00\x01", "binary.meme")


def test_seqlet_downloads_are_only_the_extra_files():
    built = []
    extra = (downloads.Download("seqlets_bed", "BED", "x.bed", "text/plain", lambda: built.append(1) or "bed"),)
    items = downloads.downloads(downloads.ViewData("seqlets", {}, {}, extra=extra))
    assert [d.kind for d in items] == ["seqlets_bed"]
    assert built == []                                   # built only when asked
    assert items[0].make() == "bed" and built == [1]
