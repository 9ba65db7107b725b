"""One engine session for notebooks, the CLI and the dashboard: same request, same numbers, same key.

A :class:`Session` holds a model (loaded lazily from a model directory or a
:class:`~seqnn_engine.batch.jobs.ModelSource`, with its precision), the model directory's genome and
genes, the result cache (:class:`~seqnn_engine.batch.result_cache.ResultCache`: a bounded memory LRU
in front of an optional :class:`~seqnn_engine.batch.store.ResultStore`) and the defaults. Every result
is computed here and keyed here (:mod:`seqnn_engine.batch.cache_keys`, model identity =
``SeqModel.digest`` = :func:`seqnn_engine.batch.store.model_digest`: params, weights, targets.txt,
head, precision), so the CLI's store entries are the dashboard's and a notebook's.

A request is an input window (:mod:`seqnn_engine.genomics.windows`: :meth:`Session.gene_input`,
:meth:`Session.interval_input`, :meth:`Session.fasta_input`, or any ``seq_length`` string) plus
options (:class:`Request`: ensemble, targets, objective bins and statistic, method). Methods
return typed results (:class:`Prediction`, :class:`Attribution`, :class:`LayerGradients`,
:class:`GeneValues`, :class:`VariantEffect`, :class:`Seqlets`, :class:`SeqletKnockout`,
:class:`MotifHits`): named
read-only arrays (``r.preds`` or ``r["preds"]``), ``meta``, the store ``key`` and ``source``
('memory' | 'store' | 'computed').

Long work reports ``progress(done, total)`` to a callback the caller supplies (the dashboard
draws a bar and cancels by interrupting its script at the next call; the CLI draws tqdm).
:meth:`Session.job` gives the key and the cached result of a request without computing it.

Example::

    s = Session("assets/demo")
    inp = s.gene_input("DMG129")
    req = Request(inp.sequence, targets=(0, 6), method="saliency")
    a = s.attribute(req)            # a.scores (L, 4), a.hypothetical (L, 4), a.objective ()
"""
from .options import (ALL_TARGETS_LIMIT, EVAL_METRICS, FIMO_THRESHOLD, MATCH_K, SEQLET_OPTIONS, TARGET_BLOCK,
                      TSS_RADIUS, VARIANT_STATS, Ensemble, Request)
from .results import (Attribution, GeneValues, LayerGradients, MotifDatabase, MotifHits, Prediction,
                      SeqletKnockout, Seqlets, VariantAttribution, VariantEffect, knockout_table, onehot, seqlet_arrays, seqlet_table)
from .core import Job, Session
from .motifs import KNOCKOUT_OPTIONS, knockout_passes
from .replicates import ReplicateSession, open_session

__all__ = ["Session", "ReplicateSession", "open_session", "Ensemble", "Request", "Job", "Prediction", "Attribution", "LayerGradients",
           "GeneValues", "VariantEffect", "VariantAttribution", "Seqlets", "SeqletKnockout", "MotifHits", "MotifDatabase", "TSS_RADIUS",
           "ALL_TARGETS_LIMIT", "TARGET_BLOCK", "SEQLET_OPTIONS", "MATCH_K", "FIMO_THRESHOLD", "VARIANT_STATS",
           "EVAL_METRICS", "KNOCKOUT_OPTIONS", "knockout_passes", "knockout_table", "onehot", "seqlet_arrays", "seqlet_table"]
