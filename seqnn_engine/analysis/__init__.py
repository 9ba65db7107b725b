"""Analysis room: what is computed from predictions.

- :mod:`.variants`: variant effect scores (reference vs alternative);
- :mod:`.gene_predict`: gene predictions and gene objectives;
- :mod:`.metrics`: per-target accuracy against measured targets;
- :mod:`.datasets`: held-out test sets (TFRecord, HDF5);
- :mod:`.predict_file`: whole test sets predicted into HDF5, and their evaluation.
"""
