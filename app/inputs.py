"""Sidebar inputs: model choice, the sequence (gene, interval, FASTA) and the options.

Widgets only; every window is made by the engine session (Session.gene_input, interval_input,
fasta_input over seqnn_engine.genomics.windows), whose InputError messages are shown with ``st.error``
while the rest of the page keeps working.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app import state
from app.config import DEMO_DEFAULT_GENE, DEMO_DIR
from seqnn_engine import InputError
from seqnn_engine.session import Ensemble
from seqnn_engine.genomics.windows import InputWindow

SeqInput = InputWindow       # the current model input (seqnn_engine.genomics.windows.InputWindow)
INPUT_MODES = ("Gene", "Interval", "FASTA")
GENE_SELECT_LIMIT = 5000     # above this many genes, the gene list is filtered by a search box first
FASTA_UPLOAD_TYPES = ["fa", "fasta", "fna", "fas", "txt", "gz"]
ATTR_METHODS = {"saliency": "Saliency (gradient)", "grad_x_input": "Gradient x input",
                "smoothgrad": "SmoothGrad", "integrated_gradients": "Integrated gradients",
                "deep_lift_shap": "DeepLIFT/SHAP"}
OBJECTIVES = {"window": "Whole window", "center": "Central bins", "tss": "TSS bins (gene's strand)",
              "exons": "Exon bins (gene's strand)", "range": "Selected range"}
CENTRES = {"tss": "TSS", "body": "gene body"}
STATISTICS = {"sum": "sum", "log": "log(sum)", "mean": "mean"}


# ----------------------------------------------------------------------------------- model

def pick_model(settings) -> tuple[str, int, str] | None:
    """Model directory selectbox (only directories found under the configured roots), for a
    directory with several weight files the replicate, and the numeric precision. Returns
    (path, replicate, precision) or None."""
    dirs = state.model_dirs(tuple(str(r) for r in settings.model_roots))
    sb = st.sidebar
    if not dirs:
        sb.error("No model directory found. Put a model directory (params.json, targets.txt, *.h5, optional "
                 "manifest.json) under one of the model roots: "
                 + ", ".join(str(r) for r in settings.model_roots)
                 + ". Add roots with the SEQNN_MODEL_ROOTS environment variable or the config file.")
        return None
    paths = [p for _, p, _ in dirs]
    names = {p: n for n, p, _ in dirs}
    n_weights = {p: k for _, p, k in dirs}
    if st.session_state.get("model_path") not in paths:
        demo = str(DEMO_DIR.resolve())
        st.session_state["model_path"] = demo if demo in paths else paths[0]
    path = sb.selectbox("Model", paths, key="model_path",
                        format_func=lambda p: f"{names[p]}  ({Path(p).name})" if names[p] != Path(p).name
                        else names[p])
    rep = 0
    if n_weights[path] > 1:
        choices = list(range(n_weights[path])) + ["all"]
        if st.session_state.get("replicate", 0) not in choices:
            st.session_state["replicate"] = 0
        rep = sb.selectbox("Replicate (weights file)", choices, key="replicate",
                           format_func=lambda r: f"all {n_weights[path]} (replicates as ensemble members)"
                           if r == "all" else str(r),
                           help="'all': predictions and attributions average the replicates; the band shows "
                                "their spread (variant scores too). Other views use replicate 0.")
    from seqnn_engine.model.precision import PRECISIONS
    precision = sb.selectbox("Precision", PRECISIONS, key="precision",
                             help="bfloat16: the model's convolutions and dense layers compute in bfloat16 "
                                  "(faster on CPUs with AMX and on GPUs; weights and outputs stay float32, "
                                  "results agree with float32 to about 0.999 Pearson)")
    return path, (rep if rep == "all" else int(rep)), str(precision)


# ----------------------------------------------------------------------------------- sequence

def _gene_input(ses, sb) -> SeqInput | None:
    genes = ses.gene_list()
    by_id = {g.gene_id: g for g in genes}
    if len(genes) > GENE_SELECT_LIMIT:
        q = sb.text_input("Search gene (name or id)", key="gene_query")
        hits = ses.genes.search(q, limit=200) if q else []
        options = [g.gene_id for g in hits]
    else:
        options = [g.gene_id for g in sorted(genes, key=lambda g: (g.gene_name.lower(), g.gene_id))]
    cur = st.session_state.get("gene")
    if cur not in by_id:
        cur = _default_gene(ses, genes)
        st.session_state["gene"] = cur
    if cur is not None and cur not in options:
        options = [cur] + options
    if not options:
        sb.info("Type part of a gene name or id to search.")
        return None
    gid = sb.selectbox("Gene", options, key="gene", help="Type to search by name or id",
                       format_func=lambda i: f"{by_id[i].gene_name} · {by_id[i].gene_id} · "
                                             f"{by_id[i].chrom}:{by_id[i].start:,} ({by_id[i].strand})")
    g = ses.genes.get(gid)
    centre = sb.radio("Window centred on", list(CENTRES), key="gene_centre", horizontal=True,
                      format_func=CENTRES.get, help="The primary TSS, or the middle of the gene body (as "
                                                    "Borzoi's gene scripts)")
    inp = ses.gene_input(g, centre)
    where = f"the TSS {g.primary_tss:,}" if centre == "tss" else f"the gene body ({g.start:,}-{g.end:,})"
    sb.caption(f"Strand **{g.strand}** · window {inp.chrom}:{inp.start:,}-{inp.start + len(inp.sequence):,} "
               f"centred on {where}")
    return inp


def _default_gene(ses, genes) -> str | None:
    md = ses.model.model_dir
    wanted = md.manifest.get("default_gene") or (DEMO_DEFAULT_GENE if Path(md.path) == DEMO_DIR.resolve() else None)
    if wanted:
        try:
            return ses.genes.get(wanted).gene_id
        except InputError:
            pass
    test = set(md.test_chroms or [])
    for g in genes:
        if not test or g.chrom in test:
            return g.gene_id
    return genes[0].gene_id if genes else None


def _interval_input(ses, sb) -> SeqInput | None:
    md = ses.model.model_dir
    if "interval" not in st.session_state:
        gen = ses.genome
        c = (md.test_chroms or gen.chroms)[0]
        mid = min(gen.chrom_length(c) // 2, 100_000)
        st.session_state["interval"] = f"{c}:{mid - 500}-{mid + 500}"
    text = sb.text_input("Interval (chrom:start-end, 0-based)", key="interval",
                         help="e.g. chr3:20,000-21,000. The model window is centred on the interval.")
    return ses.interval_input(text)


def _set_records(records, name) -> None:
    st.session_state["fasta_records"] = records
    st.session_state["fasta_source"] = name
    st.session_state["fasta_record"] = 0
    st.session_state.pop("fasta_error", None)


def _on_upload() -> None:
    from seqnn_engine.session import Session
    up = st.session_state.get("fasta_upload")
    if up is None:
        return
    try:
        _set_records(Session.parse_fasta(up.getvalue(), up.name), up.name)
    except InputError as e:
        st.session_state["fasta_error"] = f"{up.name}: {e}"


def _on_paste() -> None:
    from seqnn_engine.session import Session
    text = st.session_state.get("fasta_text", "")
    if not text.strip():
        return
    try:
        _set_records(Session.parse_fasta(text), "pasted text")
    except InputError as e:
        st.session_state["fasta_error"] = f"pasted text: {e}"


def _fasta_input(ses, sb) -> SeqInput | None:
    sb.file_uploader("Upload FASTA", type=FASTA_UPLOAD_TYPES, key="fasta_upload", on_change=_on_upload,
                     help="One or more records; plain or gzip")
    sb.text_area("... or paste FASTA / a bare sequence", key="fasta_text", on_change=_on_paste, height=100)
    err = st.session_state.get("fasta_error")
    if err:
        sb.error(err)
    records = st.session_state.get("fasta_records")
    if not records:
        sb.info("Upload or paste a sequence to predict.")
        return None
    names = [f"{r.name} ({len(r):,} bp)" for r in records]
    if st.session_state.get("fasta_record", 0) >= len(records):
        st.session_state["fasta_record"] = 0
    i = sb.selectbox(f"Record ({st.session_state.get('fasta_source', '')})", range(len(records)),
                     key="fasta_record", format_func=lambda k: names[k])
    return ses.fasta_input(records[i])


def sequence_input(ses) -> SeqInput | None:
    """Draw the sequence inputs and return the current input (None when there is none yet).

    Input errors are shown in the sidebar; the last good input is returned so the page keeps
    its views.
    """
    sb = st.sidebar
    modes = list(INPUT_MODES) if ses.has_genome else ["FASTA"]
    if not ses.has_genes and "Gene" in modes:
        modes.remove("Gene")
    if st.session_state.get("input_mode") not in modes:
        st.session_state["input_mode"] = modes[0]
    mode = sb.radio("Input", modes, key="input_mode", horizontal=True)
    try:
        if mode == "Gene":
            inp = _gene_input(ses, sb)
        elif mode == "Interval":
            inp = _interval_input(ses, sb)
        else:
            inp = _fasta_input(ses, sb)
    except InputError as e:
        sb.error(str(e))
        inp = None
        last = st.session_state.get("last_input")
        if last is not None and len(last.sequence) == ses.model.seq_length:
            sb.caption(f"Still showing the previous input: {last.label}")
            return last
        return None
    if inp is not None:
        inp = variant_centred(ses, inp, sb)
        st.session_state["last_input"] = inp
    return inp


def variant_centred(ses, inp: SeqInput, sb) -> SeqInput:
    """``inp`` re-centred on the variant chosen in the variant view (``var_centre``: the variant and the
    input it was chosen on), while that input stays the chosen one; a new input drops the centring."""
    centre = st.session_state.get("var_centre")
    if centre is None:
        return inp
    if centre["base"] != (inp.label, int(inp.start)):
        st.session_state.pop("var_centre", None)
        return inp
    try:
        moved = ses.variant_centred_input(inp, centre["variant"])
        v = centre["variant"]
        sb.caption(f"Window moved to be centred on variant **{v.id}** ({v.chrom}:{v.pos:,}), chosen in the "
                   f"variant view: {moved.chrom}:{moved.start:,}-{moved.start + len(moved.sequence):,}")
        return moved
    except InputError as e:
        sb.error(str(e))
        st.session_state.pop("var_centre", None)
        return inp


# ----------------------------------------------------------------------------------- options

@dataclass(frozen=True)
class Options:
    targets: tuple
    ensemble: Ensemble
    method: str
    objective: str
    statistic: str
    layers: tuple


MAX_PICKER_OPTIONS = 300   # the target multiselect lists at most this many search matches
SEARCH_FROM = 30           # more display entries than this: a group filter and a search box
STRAND_CHOICES = {"gene": "Gene strand", "+": "+", "-": "-", "both": "Both"}
def _default_targets(model, cat) -> list:
    md = getattr(model, "model_dir", None)
    try:
        return cat.default_selection(md.manifest if md is not None else None)
    except InputError as e:
        st.sidebar.error(str(e))
        return cat.default_selection(None)


def target_picker(ses, inp: SeqInput | None) -> list:
    """The target picker -> output indexes to draw (strand pairs resolved to one strand).

    Session state ``targets`` holds the chosen display entries (output indexes; a stranded
    pair is one entry, its '+' member). With many targets a group filter and a search box
    narrow the multiselect's options to at most MAX_PICKER_OPTIONS matches (plus the chosen),
    so the page never carries thousands of options (7,611 options measured 0.5 MB per rerun).
    """
    sb = st.sidebar
    model = ses.model
    cat = ses.target_catalog()
    T = model.num_targets
    ss = st.session_state
    cur = ss.get("targets")
    if cur is None or any(not 0 <= int(t) < T for t in cur) or ss.get("targets_model", model.digest) != model.digest:
        cur = _default_targets(model, cat)
    ss["targets_model"] = model.digest
    chosen = list(dict.fromkeys(cat.entry_of(int(t)) for t in cur))
    ss["targets"] = chosen
    entries = cat.entries
    if len(entries) > SEARCH_FROM:
        groups = cat.groups()
        names = [g for g, _ in groups]
        counts = dict(groups)
        if ss.get("target_group") not in [None] + names:
            ss["target_group"] = None
        group = sb.selectbox("Target group (assay)", [None] + names, key="target_group",
                             format_func=lambda g: f"All groups ({len(entries):,})" if g is None
                             else f"{g} ({counts[g]:,})")
        query = sb.text_input("Search targets", key="target_query", placeholder="identifier, description, group",
                              help="Every word must match the identifier, description or assay group")
        matches = cat.search(query, group)
        shown = [int(i) for i in matches[:MAX_PICKER_OPTIONS]]
        sb.caption(f"{len(matches):,} of {len(entries):,} targets match"
                   + (f"; the list shows the first {MAX_PICKER_OPTIONS}: refine the search"
                      if len(matches) > MAX_PICKER_OPTIONS else ""))
    else:
        shown = [int(i) for i in entries]
    chosen_set = set(chosen)
    opts = chosen + [i for i in shown if i not in chosen_set]
    picked = sb.multiselect("Targets", opts, key="targets", format_func=cat.label,
                            help="Type to filter the listed targets; a stranded pair is one entry")
    if not picked:
        sb.warning("Choose at least one target; showing the first.")
        picked = [int(entries[0])]
    strand = "+"
    if any(cat.stranded(t) for t in picked):
        if ss.get("target_strand") not in STRAND_CHOICES:
            ss["target_strand"] = "gene"
        choice = sb.radio("Stranded tracks", list(STRAND_CHOICES), key="target_strand", horizontal=True,
                          format_func=STRAND_CHOICES.get,
                          help="A stranded pair (+/-) is drawn as one track: by default the gene's strand "
                               "('+' for an interval or FASTA input)")
        gene_strand = inp.strand if inp is not None and inp.strand in ("+", "-") else "+"
        strand = gene_strand if choice == "gene" else choice
    return [int(i) for i in cat.tracks(picked, strand).indexes]


def options(ses, inp: SeqInput | None) -> Options:
    sb = st.sidebar
    model = ses.model
    targets = target_picker(ses, inp)
    with sb.expander("Ensemble", expanded=False):
        rc = st.checkbox("Reverse complement", key="ens_rc")
        k = st.select_slider("Shifts (bp, +-)", options=[0, 1, 2, 3], key="ens_shifts",
                             help="Average over shifts -k..k of the input")
        mc = st.number_input("MC-dropout samples", min_value=0, max_value=64, step=1, key="ens_mc",
                             disabled=not model.has_dropout,
                             help=None if model.has_dropout else "This model has no dropout layers")
        n_val = st.radio("N encoded as", [0.0, 0.25], key="ens_n", horizontal=True,
                         format_func=lambda v: "all zero" if v == 0 else "0.25 each")
    ens = Ensemble(rc=bool(rc), shifts=tuple(range(-int(k), int(k) + 1)),
                   mc_n=int(mc) if model.has_dropout else 0, n_value=float(n_val))
    with sb.expander("Attribution", expanded=False):
        method = st.selectbox("Method", list(ATTR_METHODS), key="attr_method", format_func=ATTR_METHODS.get)
        objs = list(OBJECTIVES)
        gene = inp is not None and inp.gene_window is not None
        for o, ok in (("tss", inp is not None and bool(inp.tss_bins)), ("exons", gene and bool(inp.exon_bins))):
            if not ok:
                objs.remove(o)
                if st.session_state.get("attr_objective") == o:
                    st.session_state["attr_objective"] = "window"
        objective = st.radio("Objective bins", objs, key="attr_objective", format_func=OBJECTIVES.get)
        statistic = st.selectbox("Statistic", list(STATISTICS), key="attr_stat", format_func=STATISTICS.get)
        taps = model.taps
        default_layers = [t.index for t in taps if t.name == "trunk.output"][:1] or [taps[-1].index]
        if "layers" not in st.session_state or any(i >= len(taps) for i in st.session_state["layers"]):
            st.session_state["layers"] = default_layers
        layers = st.multiselect("Layers (layer view)", [t.index for t in taps], key="layers",
                                format_func=lambda i: taps[i].describe())
    return Options(tuple(int(t) for t in targets), ens, method, objective, statistic, tuple(int(i) for i in layers))
