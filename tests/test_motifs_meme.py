"""MEME files: the bundled JASPAR set, round trips, user files and malformed input."""
import numpy as np
import pytest

from tools.demo.motifs import load_motifs as demo_motifs
from seqnn_engine.errors import InputError
from seqnn_engine.motifs.meme import JASPAR_FILE, JASPAR_LICENSE, MotifSet, jaspar, meme_text, parse_meme, read_meme, write_meme


def test_bundled_jaspar_holds_the_demo_matrices():
    db = jaspar()
    assert len(db) == 879 and len(set(db.ids)) == 879
    assert all(i.startswith("MA") for i in db.ids)
    # the demo genome's planted matrices, with the same IDs and the vendored counts / total
    for name, m in demo_motifs().items():
        i = db.ids.index(m.matrix_id)
        assert db.names[i] == m.jaspar_name
        expect = m.counts / m.counts.sum(1, keepdims=True)
        np.testing.assert_allclose(db.probs[i], expect, atol=1e-6)
    assert "CC BY 4.0" in JASPAR_LICENSE.read_text() and "Rauluseviciute" in JASPAR_LICENSE.read_text()
    assert JASPAR_FILE.stat().st_size > 100_000


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    probs = [rng.dirichlet(np.ones(4), size=w) for w in (5, 12, 1)]
    m = MotifSet(["M1", "M2.1", "X"], ["Foo", "M2.1", "bar"], probs, np.array([0.3, 0.2, 0.2, 0.3]), "test")
    write_meme(tmp_path / "m.meme", m)
    back = read_meme(tmp_path / "m.meme")
    assert back.ids == m.ids and back.names == m.names
    for a, b in zip(back.probs, probs):
        np.testing.assert_allclose(a, b, atol=2e-6)
    np.testing.assert_allclose(back.background, [0.3, 0.2, 0.2, 0.3])
    # the bundled file survives a round trip too
    db = jaspar()
    again = parse_meme(meme_text(db))
    assert again.ids == db.ids
    assert max(np.abs(a - b).max() for a, b in zip(again.probs, db.probs)) < 1e-6


HOCOMOCO_LIKE = """MEME version 5

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF AHR.H12CORE.0.P.B AHR
letter-probability matrix: alength= 4 w= 3 nsites= 500 E= 0
0.1 0.2 0.3 0.4
  0.0   1.0   0.0   0.0
0.25	0.25	0.25	0.25
URL https://example.org

MOTIF second
letter-probability matrix: alength= 4 w= 2 nsites= 1 E= 0

0.5 0.5 0 0
0 0 0.5 0.5
"""


def test_user_file_variants(tmp_path):
    p = tmp_path / "h.meme"
    p.write_text(HOCOMOCO_LIKE)
    m = read_meme(p)
    assert m.ids == ["AHR.H12CORE.0.P.B", "second"] and m.names == ["AHR", "second"]
    np.testing.assert_allclose(m.probs[0][0], [0.1, 0.2, 0.3, 0.4])
    assert m.probs[1].shape == (2, 4)
    assert m.index("AHR") == 0 and m.index("second") == 1


BAD = {
    "no motif": "MEME version 4\n\nALPHABET= ACGT\n",
    "three columns": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0\n0.25 0.25 0.25 0.25\n",
    "short matrix": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 3\n0.5 0.5 0 0\n0.25 0.25 0.25 0.25\n",
    "not numbers": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 x 0 0.5\n",
    "negative": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 -0.5 0.5 0.5\n",
    "counts": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n10 20 30 40\n",
    "protein": "MEME version 4\nALPHABET= ACDEFGHIKLMNPQRSTVWY\nMOTIF a\n",
    "alength": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 20 w= 1\n" + " ".join(["0.05"] * 20) + "\n",
    "no matrix": "MEME version 4\nMOTIF a\nMOTIF b\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n",
    "duplicate": "MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n"
                 "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n",
    "empty id": "MEME version 4\nMOTIF\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_files_raise_input_error(tmp_path, case):
    p = tmp_path / "bad.meme"
    p.write_text(BAD[case])
    with pytest.raises(InputError) as e:
        read_meme(p)
    assert "bad.meme" in str(e.value) or "motif" in str(e.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(InputError):
        read_meme(tmp_path / "nope.meme")
    p = tmp_path / "bin.meme"
    p.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(InputError):
        read_meme(p)
