"""The explore page: prediction overview (tracks, uncertainty band, genes) with a selectable
range, and the detail views driven by that range."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import downloads, state
from app.config import DEFAULT_RANGE_BP
from app.inputs import Options, SeqInput
from app.state import PLOTLY_CONFIG, Ctx
from seqnn_engine import plot
from seqnn_engine.session import Request

VIEWS = ("Attribution", "Layers", "Variant", "Diagnostics")


def _input_id(ses, inp: SeqInput) -> tuple:
    return (ses.model.digest, inp.label, int(inp.start), inp.source)


def selected_range(ses, inp: SeqInput) -> tuple[int, int]:
    """The selected display range, from (in priority) a new box selection on the overview, the
    range slider, a row picked in the seqlet table, or the default for a new input. Must run before the
    slider is drawn."""
    geo = ses.geometry
    ident = _input_id(ses, inp)
    box = _box_from_chart(st.session_state.get("overview"))
    if st.session_state.get("range_for") != ident:
        st.session_state["range_for"] = ident
        rng = inp.focus or geo.centred_range(DEFAULT_RANGE_BP, inp.start)
        st.session_state["range"] = geo.clip_range(rng, inp.start)
        st.session_state["last_box"] = box  # a box left on the chart from the previous input is stale
        return tuple(st.session_state["range"])
    if box is not None and box != st.session_state.get("last_box"):
        st.session_state["last_box"] = box
        st.session_state["range"] = geo.clip_range(box, inp.start)
    from app.views import seqlets
    picked = seqlets.picked_range()   # a row picked in the seqlet table zooms to that seqlet
    if picked is not None:
        st.session_state["range"] = geo.clip_range(picked, inp.start)
    return tuple(st.session_state["range"])


def _box_from_chart(chart_state) -> tuple | None:
    try:
        boxes = chart_state["selection"]["box"]
    except (KeyError, TypeError):
        return None
    if not boxes:
        return None
    xs = boxes[-1].get("x") or []
    if len(xs) < 2:
        return None
    return (float(min(xs)), float(max(xs)))


def _on_slider() -> None:
    st.session_state["range"] = tuple(int(v) for v in st.session_state["range_slider"])


def range_slider(ses, inp: SeqInput, rng) -> None:
    lo, hi = inp.start, inp.start + ses.geometry.seq_length
    st.session_state["range_slider"] = (int(rng[0]), int(rng[1]))
    st.slider(f"Selected range ({inp.coord_label()}) - or drag a box on the tracks", min_value=lo,
              max_value=hi, key="range_slider", on_change=_on_slider, step=1)


def _gene_features(inp: SeqInput) -> list:
    """The input's genes as the gene track draws them."""
    return [plot.GeneFeature.from_gene(g) for g in inp.genes]


def overview_figure(ctx: Ctx):
    """The overview tracks figure, rebuilt only when what it shows changes.

    The selected range is deliberately not drawn on it: a new range then leaves the figure
    unchanged, so the browser does not redraw its many subplots (the range is shaded on the
    detail views; a box selection stays visible as plotly's own selection box).
    """
    inp, model = ctx.inp, ctx.model
    ident = (ctx.pred.key, tuple(int(c) for c in ctx.cols), inp.label, int(inp.start), len(inp.genes), inp.marks)
    cached = st.session_state.get("overview_fig")
    if cached is not None and cached[0] == ident:
        return cached[1]
    genes = _gene_features(inp) if inp.genomic else None
    mean, sd = ctx.pred["preds"][:, ctx.cols], ctx.pred["sd"][:, ctx.cols]
    if "replicate_preds" in ctx.pred:          # a replicate ensemble: the mean and spread, or one replicate
        reps = ctx.pred.meta.get("replicates", [])
        shown = st.selectbox("Replicates shown", ["mean"] + list(reps), key="replicate_shown",
                             format_func=lambda r: "mean ± spread across replicates" if r == "mean" else f"replicate {r}")
        if shown != "mean":
            mean, sd = ctx.pred["replicate_preds"][reps.index(shown)][:, ctx.cols], None
        ident = ident + (shown,)
        if cached is not None and cached[0] == ident:
            return cached[1]
    fig = plot.tracks_figure(ctx.bin_x(), mean, sd,
                                ctx.target_names(), genes=genes,
                                x_range=(inp.start, inp.start + model.seq_length), x_title=inp.coord_label())
    for pos, label in inp.marks:       # e.g. the variant the window is centred on
        plot.mark_position(fig, pos, label)
    st.session_state["overview_fig"] = (ident, fig)
    return fig


def render(ses, inp: SeqInput, opts: Options) -> None:
    st.markdown(f"**{inp.label}**" + (f" · strand {inp.strand}" if inp.strand != "." else ""))
    for n in inp.notes:
        st.caption(f"Note: {n}")
    req = None
    try:
        with state.timed("prediction"):
            req = Request(inp.sequence, opts.ensemble, tuple(opts.targets))
            pred = state.result(ses.job("predict", req), f"Predicting ({opts.ensemble.n_members} ensemble member(s))",
                                again="Predict")
    except Exception as e:  # InputError and engine failures: show, keep the page alive
        state.show_error(e)
        return
    if pred is None:
        return
    short, long = ses.target_labels()
    cols = pred.columns(opts.targets)
    rng = selected_range(ses, inp)
    ctx = Ctx(ses, inp, opts, pred, rng, short, long, cols)
    model = ses.model

    with state.timed("overview"):
        fig = overview_figure(ctx)
        st.plotly_chart(fig, key="overview", on_select="rerun", selection_mode="box", config=PLOTLY_CONFIG)
    range_slider(ses, inp, rng)
    bx = ses.geometry.bin_starts(inp.start)
    arrays = {"preds": pred["preds"], "sd": pred["sd"], "members": pred["members"],
              "target_index": pred["target_index"], "bin_start": bx,
              "target_ids": np.array([short[int(t)] for t in pred["target_index"]])}
    if len(inp.tss_bins):
        arrays["tss_bins"] = np.asarray(inp.tss_bins, np.int64)
    if inp.source == "gene":
        gv = ses.gene_values(inp.gene, req)
        arrays["gene_values"] = np.asarray(gv["values"])
        arrays["gene_value_targets"] = np.asarray(gv["target_index"])
    with st.expander("Download predictions", expanded=False):
        downloads.render(downloads.ViewData(
            "predictions", arrays, ctx.meta(member_labels=pred.meta.get("member_labels", [])),
            tracks={short[t]: pred["preds"][:, c] for t, c in zip(opts.targets, cols)},
            track_start=int(bx[0]), track_step=model.stride, chrom=ctx.ref_name(),
            chrom_sizes=ctx.chrom_sizes(),
            figure=fig, stem=ctx.stem()))
    if st.session_state.get("view") not in VIEWS:
        st.session_state["view"] = VIEWS[0]
    view = st.segmented_control("View", VIEWS, key="view", label_visibility="collapsed")
    view = view or VIEWS[0]
    from app.views import attribution, diagnostics, layers, variant
    try:
        with state.timed(f"view {view}"):
            {"Attribution": attribution.render, "Layers": layers.render, "Variant": variant.render,
             "Diagnostics": diagnostics.render}[view](ctx)
    except Exception as e:
        state.show_error(e)
