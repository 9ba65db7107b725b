"""SeqNN dashboard entry point: ``streamlit run app/main.py``.

Opens on the bundled demo model (assets/demo) with a demo gene preselected. Pages: Explore
(predictions, attribution, layers, variant, diagnostics), Test set, Model.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ first, not the repository root
    sys.path.insert(0, str(_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import streamlit as st  # noqa: E402

from app import inputs, state  # noqa: E402
from app.views import explore, model_info, testset  # noqa: E402

PAGES = ("Explore", "Test set", "Model")
_PRELOAD_FIGURE = {"data": [{"type": "scatter", "x": [0], "y": [0], "mode": "markers", "marker": {"opacity": 0}}],
                   "layout": {"height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "xaxis": {"visible": False},
                              "yaxis": {"visible": False}}}


def main() -> None:
    st.set_page_config(page_title="SeqNN dashboard", layout="wide", initial_sidebar_state="expanded")
    with state.timed("run"):
        _run()


def _run() -> None:
    state.keep_widget_state()
    settings = state.settings()
    sb = st.sidebar
    sb.title("SeqNN dashboard")
    for p in settings.problems:
        sb.warning(p)
    page = sb.radio("Page", PAGES, key="page", horizontal=True)
    picked = inputs.pick_model(settings)
    if picked is None:
        st.info("No model to show yet (see the sidebar).")
        return
    path, replicate, precision = picked
    loading = None
    if not state.model_loaded(path, replicate, precision):
        # First use in this server process: say so, and draw an empty chart so the browser
        # fetches the plotting library while the model loads (the first real chart is then
        # drawn as soon as it arrives).
        loading = st.empty()
        with loading.container():
            st.info("Loading the model (first use since the server started) ...")
            st.plotly_chart(_PRELOAD_FIGURE, config={"staticPlot": True}, key="plotly_preload")
    try:
        with state.timed("model"):
            ses = state.session(path, replicate, precision)
    except Exception as e:  # a broken model directory must not take the page down
        state.show_error(e, sb)
        st.info("Choose another model in the sidebar.")
        return
    finally:
        if loading is not None:
            loading.empty()
    sb.caption(model_info.summary_line(ses.model))
    if page == "Model":
        model_info.render(ses)
        return
    if page == "Test set":
        testset.render(ses)
        return
    with state.timed("inputs"):
        inp = inputs.sequence_input(ses)
        opts = inputs.options(ses, inp)
    if inp is None:
        st.info("Choose an input in the sidebar: a gene, an interval or a FASTA sequence.")
        return
    explore.render(ses, inp, opts)


main()
