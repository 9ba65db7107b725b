"""The dashboard's figures, for notebooks and scripts: arrays or engine results in, plotly
``go.Figure`` out (no Streamlit, no model).

    from seqnn_engine import plot
    fig = plot.prediction_tracks(pred, x, labels)       # SeqModel.predict(..., return_var=True)
    fig.write_html("tracks.html")

plotly is optional for the engine (``pip install 'seqnn-engine[plot]'``) and imported only when
a figure is built: without it a figure function raises InputError saying what to install,
while this package and its numpy helpers (:mod:`.envelope`) import and work.

Figures (each module's docstrings state the array shapes):

* tracks: :func:`tracks_figure` (tracks + band + gene track), :func:`prediction_tracks`
  (from an engine Prediction), :func:`line_figure`, :func:`variant_figure`;
  genes: :class:`GeneFeature`, :func:`gene_traces`;
* logo: :func:`logo_figure`, :func:`logo_traces`, :func:`logo_matrix`, :func:`attribution_logo`;
* heatmaps: :func:`heatmap_figure`, :func:`hypothetical_heatmap`, :func:`ism_heatmap`,
  :func:`layer_unit_heatmap`, :func:`layer_target_heatmap`, :func:`layer_heatmaps`;
* motifs: :func:`add_seqlets`, :func:`seqlet_traces`, :func:`motif_hits_figure`;
* charts: :func:`scatter_figure`, :func:`bar_figure`;
* helpers: :func:`shade_range`, :func:`cap_note`; envelope: :func:`envelope`,
  :func:`column_extremes`, :func:`pool_columns`, :func:`view_slice`.
"""
from ._base import BASE_COLORS, PLOTLY_MISSING, SELECT_COLOR, TRACK_COLORS, cap_note, mark_position, shade_range
from .charts import bar_figure, scatter_figure
from .envelope import DEFAULT_COLUMNS, Envelope, column_extremes, envelope, pool_columns, view_slice
from .genes import GeneFeature, gene_traces
from .heatmaps import (MAX_HEATMAP_COLUMNS, heatmap_figure, hypothetical_heatmap, ism_heatmap, layer_heatmaps,
                       layer_target_heatmap, layer_unit_heatmap)
from .logo import CONTRIBUTION_METHODS, GLYPHS, attribution_logo, logo_figure, logo_matrix, logo_traces
from .motifs import SEQLET_COLORS, add_seqlets, motif_hits_figure, seqlet_traces
from .tracks import line_figure, member_spread, prediction_tracks, tracks_figure, variant_figure

__all__ = ["mark_position", 
    "tracks_figure", "prediction_tracks", "member_spread", "line_figure", "variant_figure",
    "GeneFeature", "gene_traces",
    "logo_figure", "logo_traces", "logo_matrix", "attribution_logo", "GLYPHS", "CONTRIBUTION_METHODS",
    "heatmap_figure", "hypothetical_heatmap", "ism_heatmap", "layer_unit_heatmap", "layer_target_heatmap",
    "layer_heatmaps", "MAX_HEATMAP_COLUMNS",
    "seqlet_traces", "add_seqlets", "motif_hits_figure", "SEQLET_COLORS",
    "scatter_figure", "bar_figure",
    "shade_range", "cap_note", "SELECT_COLOR", "TRACK_COLORS", "BASE_COLORS", "PLOTLY_MISSING",
    "Envelope", "envelope", "column_extremes", "pool_columns", "view_slice", "DEFAULT_COLUMNS",
]
