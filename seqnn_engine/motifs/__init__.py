"""Motifs from attributions: seqlets, TOMTOM names, FIMO hits and TF-MoDISco patterns.

One concept per module (import them directly; this package imports nothing heavy):

- :mod:`.meme`: MEME motif files (validated reading, writing) and the bundled JASPAR 2024 CORE
  vertebrates non-redundant set (``data/``, CC BY 4.0);
- :mod:`.seqlets`: seqlets (significant runs of positive or negative contribution) called from any
  attribution against a null built from the attribution's own values;
- :mod:`.seqlet_table`: the seqlet table (coordinates, scores, matches, knock-out columns; TSV and BED);
- :mod:`.verify`: knock-out verification of seqlets (which seqlets the prediction depends on: each span
  replaced by random bases, tested against knock-outs of random spans outside the seqlets);
- :mod:`.annotate`: TOMTOM (memelite) matches of seqlets to a motif database;
- :mod:`.fimo`: FIMO (memelite) hits of chosen motifs in one-hot sequences;
- :mod:`.modisco`: TF-MoDISco (modisco-lite) patterns, their JASPAR matches, MEME/TSV/BED/HTML outputs;
- :mod:`.logos`: sequence logos drawn as inline SVG (no plotting library).

memelite and modisco-lite pull in numba; they are imported inside the functions that use them.
"""
