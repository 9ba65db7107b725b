"""One-hot utilities: encoding conventions, decoding, reverse complement, errors."""
import numpy as np
import pytest

from seqnn_engine import InputError
from seqnn_engine.genomics.onehot import (decode, encode, encode_batch, encode_with_report, from_indices,
                                          reverse_complement, reverse_complement_str)


def test_encode_acgt_and_n_conventions():
    x = encode("ACGTN")
    np.testing.assert_array_equal(x[:4], np.eye(4))
    assert x.dtype == np.float32 and x.shape == (5, 4) and (x[4] == 0).all()
    np.testing.assert_array_equal(encode("acgtn", n_value=0.25)[4], [0.25] * 4)
    np.testing.assert_array_equal(encode("acgt"), encode("ACGT"))


def test_iupac_codes_become_n_with_count():
    r = encode_with_report("ACRYNT")
    assert r.n_ambiguous == 3 and r.n_iupac == 2 and (r.onehot[2:5] == 0).all()


def test_invalid_character_names_position():
    with pytest.raises(InputError, match=r"'X' at position 3"):
        encode("ACXT")
    with pytest.raises(InputError, match="differ in length"):
        encode_batch(["ACGT", "ACG"])
    with pytest.raises(InputError):
        encode_batch([])


def test_decode_and_reverse_complement_round_trip():
    s = "AACGTTNGCA"
    x = encode(s)
    assert decode(x) == s
    assert decode(reverse_complement(x)) == reverse_complement_str(s) == "TGCNAACGTT"
    np.testing.assert_array_equal(reverse_complement(x)[0], encode("T")[0])
    b = encode_batch(["ACGT", "GGCA"])
    np.testing.assert_array_equal(reverse_complement(b)[1], encode("TGCC"))
    np.testing.assert_array_equal(from_indices(np.array([0, 3, 4])), encode("ATN"))
