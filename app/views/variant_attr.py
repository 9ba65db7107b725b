"""The attribution of a variant's score, REF and ALT side by side: the engine's
``Session.variant_attribution_job`` (gradient x input of the chosen targets' prediction summed over
every output bin, on the REF window and on the ALT window), drawn around the variant."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import downloads, state
from app.state import PLOTLY_CONFIG, Ctx
from seqnn_engine import plot
from seqnn_engine.session import onehot

DEFAULT_FLANK_BP = 50
MAX_FLANK_BP = 500


def render(ctx: Ctx, vw) -> None:
    """Attribution section of the variant view for VariantWindow ``vw``."""
    st.markdown("##### Attribution of the variant score (REF and ALT)")
    res = state.result(ctx.session.variant_attribution_job(vw, ctx.request(positions=None)),
                       "Attributing the variant score on the REF and ALT windows",
                       again="Attribute the variant score again")
    if res is None:
        return
    names = ctx.target_names()
    d_obj = float(res["alt_objective"]) - float(res["ref_objective"])
    st.caption(f"Gradient x input of the prediction of {', '.join(names)} summed over every output bin (the SUM "
               f"score's objective, mean over the targets) on each window · objective REF "
               f"{float(res['ref_objective']):.5g}, ALT {float(res['alt_objective']):.5g}, ALT - REF {d_obj:.5g}"
               + (" · (from cache)" if res.source != "computed" else ""))
    flank = int(st.number_input("Bases each side of the variant", min_value=5, max_value=MAX_FLANK_BP,
                                value=DEFAULT_FLANK_BP, step=5, key="var_attr_flank"))
    L, k, p = len(vw.ref_seq), len(vw.variant.ref), int(vw.seq_pos)
    a, b = max(0, p - flank), min(L, p + k + flank)
    x0 = int(vw.start)
    pos = x0 + p
    x = np.arange(x0 + a, x0 + b, dtype=np.float64)
    contrib = {side: res.position_scores(side) for side in ("ref", "alt")}
    fig = plot.line_figure(x, {"REF": contrib["ref"][a:b], "ALT": contrib["alt"][a:b],
                               "ALT - REF": contrib["alt"][a:b] - contrib["ref"][a:b]},
                           title=f"Contribution per position around {vw.variant.id}", height=230, max_cols=None)
    plot.mark_position(fig, pos, f"{vw.variant.ref}>{vw.variant.alt}", width=k)
    st.plotly_chart(fig, key="var_attr_tracks", config=PLOTLY_CONFIG)
    cols = st.columns(2)
    logos = {}
    for col, side, seq in zip(cols, ("ref", "alt"), (vw.ref_seq, vw.alt_seq)):
        oh = onehot(seq, 0.0)[0]
        m = plot.logo_matrix(res.meta["method"], np.asarray(res[f"{side}_scores"])[a:b], oh[a:b])
        allele = vw.variant.ref if side == "ref" else vw.variant.alt
        logos[side] = plot.logo_figure(m, x0 + a, title=f"{side.upper()} ({allele}) {x0 + a:,}-{x0 + b:,}")
        plot.mark_position(logos[side], pos, None, width=k)
        col.plotly_chart(logos[side], key=f"var_attr_logo_{side}", config=PLOTLY_CONFIG)
    arrays = {k_: np.asarray(v) for k_, v in res.arrays.items()}
    arrays.update({"ref_position_scores": contrib["ref"], "alt_position_scores": contrib["alt"],
                   "position": np.arange(x0, x0 + L, dtype=np.int64)})
    with st.expander("Download variant attribution", expanded=False):
        downloads.render(downloads.ViewData(
            "variant_attribution", arrays,
            ctx.meta(method=res.meta["method"], variant_position=pos, ref=vw.variant.ref, alt=vw.variant.alt,
                     variant_window_start=x0, objective="sum over every output bin"),
            tracks={"ref_contribution": contrib["ref"], "alt_contribution": contrib["alt"]}, track_start=x0,
            track_step=1, chrom=ctx.ref_name(), chrom_sizes=ctx.chrom_sizes(), figure=fig, stem=ctx.stem()))
