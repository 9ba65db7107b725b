"""Test-set page: pick a test set found under the model roots, evaluate the model on it with
progress (seqnn_engine.analysis.predict_file.evaluate), per-target table and predicted-vs-observed scatter."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from app import downloads, state
from app.state import PLOTLY_CONFIG
from seqnn_engine import InputError, plot

SCATTER_POSITIONS = 50_000   # predicted/observed values kept per target for the scatter
from seqnn_engine.session import EVAL_METRICS as METRICS  # noqa: E402


@st.cache_data(ttl=60, show_spinner=False)
def find_datasets(roots: tuple, max_depth: int = 4) -> list[tuple[str, str]]:
    """Test sets under the roots (seqnn_engine.analysis.datasets.find_datasets), cached for a minute."""
    from seqnn_engine.analysis.datasets import find_datasets as engine_find
    return engine_find(roots, max_depth)


def _dataset_id(path: str) -> str:
    p = Path(path)
    files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file())
    return ";".join(f"{x.name}:{x.stat().st_size}:{x.stat().st_mtime_ns}" for x in files[:200])


def render(ses) -> None:
    model = ses.model
    st.subheader("Test set")
    s = state.settings()
    sets = find_datasets(tuple(str(r) for r in s.model_roots))
    if not sets:
        st.info("No test set found under the model roots. Put a Baskerville data directory (statistics.json, "
                "targets.txt, tfrecords/) or an HDF5 test set under a root (SEQNN_MODEL_ROOTS or the config file).")
        return
    paths = [p for _, p in sets]
    labels = {p: lab for lab, p in sets}
    if st.session_state.get("dataset") not in paths:
        st.session_state["dataset"] = paths[0]
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
    path = c1.selectbox("Test set", paths, key="dataset", format_func=lambda p: labels[p])
    split = c2.selectbox("Split", ["test", "valid", "train"], key="eval_split")
    limit = c3.number_input("Sequences (0 = all)", min_value=0, step=1, key="eval_limit")
    rc = c4.checkbox("+ reverse complement", key="eval_rc")
    try:
        from seqnn_engine.analysis.datasets import open_dataset
        ts = open_dataset(path, split=split)
        ts = ts.head(int(limit)) if limit else ts
    except InputError as e:
        st.error(str(e))
        return
    st.caption(f"{ts.num_seqs} sequences of {ts.seq_length:,} bp, {ts.target_length} bins x {ts.num_targets} targets "
               f"({ts.format})")
    if ts.seq_length != model.seq_length or ts.num_targets != model.num_targets:
        st.error(f"This test set ({ts.seq_length:,} bp, {ts.num_targets} targets) does not fit the model "
                 f"({model.seq_length:,} bp, {model.num_targets} targets): choose another test set or model.")
        return
    job = ses.evaluation_job(ts, _dataset_id(path), split, bool(rc), scatter_positions=SCATTER_POSITIONS)
    res = job.cached()
    if res is None:
        if state.was_cancelled(job.key):
            st.warning("Evaluation cancelled.")
            state.clear_cancel()
        if not st.button("Evaluate", key="eval_run", type="primary"):
            return
        try:
            res = state.result(job, f"Evaluating {ts.num_seqs} sequences")
        except InputError as e:
            st.error(str(e))
            return
    ids, descs = list(ts.target_ids), list(ts.target_labels)
    st.write(f"Mean Pearson r **{np.nanmean(res['pearsonr']):.3f}** · mean R² **{np.nanmean(res['r2']):.3f}** over "
             f"{len(ids)} targets ({res.meta.get('num_positions', 0):,} positions each)")
    table = {"index": list(ts.target_index), "identifier": ids, "description": descs}
    table.update({m: np.round(np.asarray(res[m]), 4) for m in METRICS})
    st.dataframe(table, hide_index=True)
    if st.session_state.get("eval_target", 0) >= len(ids):
        st.session_state["eval_target"] = 0
    t = st.selectbox("Target for the scatter", list(range(len(ids))), key="eval_target",
                     format_func=lambda i: f"{ids[i]} - {descs[i]}")
    fig = plot.scatter_figure(res["sample_pred"][:, t], res["sample_obs"][:, t],
                              title=f"Predicted vs observed: {ids[t]} (r = {float(res['pearsonr'][t]):.3f})")
    st.plotly_chart(fig, key="eval_scatter", config=PLOTLY_CONFIG)
    with st.expander("Download accuracy", expanded=False):
        downloads.render(downloads.ViewData(
            "accuracy", {**{m: np.asarray(res[m]) for m in METRICS}, "target_ids": np.array(ids)},
            {"model_name": model.name, "model_digest": model.digest, "test_set": labels[path], "split": split,
             "num_seqs": int(ts.num_seqs), "rc": bool(rc)},
            tracks={m: np.asarray(res[m]) for m in METRICS}, track_start=0, track_step=1, figure=fig,
            stem=f"{model.name}_{Path(path).name}", position_name="target"))
