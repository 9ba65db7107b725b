"""Attribution view: contribution track over the window, sequence logo and hypothetical-score
heatmap of the selected range, ISM heatmap on demand (with progress)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import downloads, state
from app.config import MAX_HEATMAP_COLUMNS, MAX_LOGO_BP, TOP_BED_POSITIONS
from app.inputs import ATTR_METHODS, OBJECTIVES
from app.state import PLOTLY_CONFIG, Ctx
from app.views import seqlets
from seqnn_engine import InputError, plot
from seqnn_engine.session import onehot


def attribution(ctx: Ctx, method: str, window=None, label: str = "Attribution", start: bool = True):
    """The attribution result, computed with progress when ``start`` (else None on a miss)."""
    return state.result(ctx.session.job("attribute", ctx.request(method=method, window=window)), label,
                        start=start)


def motif_seqlets(ctx: Ctx, res, method: str, where):
    """(seqlets of the attribution or None, motif database or None); engine errors are shown in
    ``where`` and leave the rest of the view as it was."""
    where.markdown("##### Seqlets and motifs")
    db = seqlets.database(where)
    if db is None:
        return None, None
    try:
        with where:
            found = seqlets.compute_seqlets(ctx, res, method, db)
    except InputError as e:
        state.show_error(e, where)
        return None, db
    return seqlets.verification(ctx, found, where), db


def render(ctx: Ctx) -> None:
    method = ctx.opts.method
    res = attribution(ctx, method, label=f"{ATTR_METHODS[method]}")
    if res is None:
        return
    inp, L = ctx.inp, ctx.L
    x = ctx.base_x()
    obj_txt = OBJECTIVES[ctx.opts.objective]
    st.caption(f"{ATTR_METHODS[method]} of {ctx.opts.statistic} over {obj_txt.lower()} of "
               f"{', '.join(ctx.target_names())} · objective = {float(res['objective']):.4g}"
               + (" · (from cache)" if res.source != "computed" else ""))
    scores = np.asarray(res["scores"])
    hyp = np.asarray(res["grads"])
    ps = res.position_scores()
    slot_contrib, slot_logo, slot_hyp, slot_motifs = st.container(), st.container(), st.container(), st.container()
    found, db = motif_seqlets(ctx, res, method, slot_motifs)

    fig_c = plot.line_figure(x, {"contribution": ps}, title="Contribution per position",
                             x_range=(inp.start, inp.start + L), height=200)
    plot.shade_range(fig_c, ctx.rng)
    seqlets.draw_boxes(fig_c, found, ps)
    slot_contrib.plotly_chart(fig_c, key="contrib", config=PLOTLY_CONFIG)

    lrng = ctx.geo.limit_range(ctx.rng, MAX_LOGO_BP)
    cap = (f"logo capped at {MAX_LOGO_BP:,} bp: it shows the central {MAX_LOGO_BP:,} bp of the selected range; "
           "select a shorter range" if lrng != tuple(ctx.rng) else None)
    a, b = ctx.positions(lrng)
    oh = onehot(inp.sequence, 0.0)[0]
    logo = plot.logo_matrix(method, scores[a:b], oh[a:b])
    fig_logo = plot.logo_figure(logo, lrng[0], title=f"Sequence logo {lrng[0]:,}-{lrng[1]:,}", note=cap)
    seqlets.draw_boxes(fig_logo, found, np.concatenate([logo.clip(min=0).sum(1), logo.clip(max=0).sum(1)]),
                       lrng[0], lrng[1])
    fig_logo.update_xaxes(range=[lrng[0] - 0.6, lrng[1] - 0.4])
    slot_logo.plotly_chart(fig_logo, key="logo", config=PLOTLY_CONFIG)
    fig_h = plot.hypothetical_heatmap(hyp[a:b], x[a:b], max_cols=MAX_HEATMAP_COLUMNS)
    slot_hyp.plotly_chart(fig_h, key="hyp", config=PLOTLY_CONFIG)
    with slot_motifs:
        if found is not None:
            seqlets.table_section(ctx, found)
        seqlets.fimo_section(ctx, db)

    arrays = {"scores": scores, "hypothetical": hyp, "position_scores": ps, "onehot": oh,
              "objective": np.asarray(res["objective"]), "position": x}
    arrays.update({k: np.asarray(v) for k, v in res.arrays.items() if k.startswith("diag_")})
    with st.expander("Download attribution", expanded=False):
        downloads.render(downloads.ViewData(
            "attribution", arrays, ctx.meta(method=method, objective=ctx.opts.objective,
                                            statistic=ctx.opts.statistic),
            tracks={"contribution": ps}, track_start=inp.start, track_step=1, chrom=ctx.ref_name(),
            chrom_sizes=ctx.chrom_sizes(), bed_scores=ps, bed_start=inp.start, bed_k=TOP_BED_POSITIONS,
            figure=fig_logo, stem=ctx.stem()))
    ism_section(ctx)


def ism_section(ctx: Ctx) -> None:
    st.markdown("##### In-silico mutagenesis of the selected range")
    max_bp = ctx.session.max_ism_bp()
    wr = ctx.geo.limit_range(ctx.rng, max_bp)
    a, b = ctx.positions(wr)
    n = (b - a) * 3
    job = ctx.session.job("attribute", ctx.request(method="ism", window=(a, b)))
    res = job.cached()
    requested = st.session_state.get("ism_request") == job.key
    if res is None and not requested:
        note = f" (the central {max_bp:,} bp of the selection)" if wr != tuple(ctx.rng) else ""
        if st.button(f"Run ISM on {wr[0]:,}-{wr[1]:,}{note}: {n:,} mutants x "
                     f"{ctx.opts.ensemble.n_members} member(s)", key="ism_run"):
            st.session_state["ism_request"] = job.key
            state.clear_cancel()
        else:
            return
    if res is None:
        res = state.result(job, "ISM")
        if res is None:
            return
    x = ctx.base_x()
    deltas = np.asarray(res["scores"])[a:b]
    per_pos = res.position_scores()[a:b]  # mean |delta| per position
    fig = plot.ism_heatmap(deltas, x[a:b], title=f"ISM: change of the objective (alt - ref), {wr[0]:,}-{wr[1]:,}",
                           max_cols=MAX_HEATMAP_COLUMNS)
    st.plotly_chart(fig, key="ism", config=PLOTLY_CONFIG)
    diag = res.diagnostics
    grads = ctx.session.gradient_diagnostics(ctx.request())
    diag["grad_vs_ism"] = np.float32(ctx.session.grad_vs_ism(grads, res, (a, b)))
    st.caption(f"Agreement of the gradient with ISM on this range (Pearson r): {float(diag['grad_vs_ism']):.3f}")
    with st.expander("Download ISM", expanded=False):
        downloads.render(downloads.ViewData(
            "ism", {"ism_delta": deltas, "position": x[a:b], **{f"diag_{k}": v for k, v in diag.items()}},
            ctx.meta(method="ism", window=[int(a), int(b)]), tracks={"ism_mean_abs": per_pos},
            track_start=int(wr[0]), track_step=1, chrom=ctx.ref_name(), chrom_sizes=ctx.chrom_sizes(),
            bed_scores=per_pos, bed_start=int(wr[0]), figure=fig, stem=ctx.stem()))
