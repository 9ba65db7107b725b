"""From load to saved figure: the bundled demo model, one gene window, a small ensemble, saliency.

    python docs/example.py --out figures/        # writes figures/tracks.html and figures/logo.html

Open the HTML files in a browser (self-contained: plotly.js is embedded; no kaleido needed).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seqnn_engine import load_model_dir, plot  # noqa: E402
from seqnn_engine.genomics import onehot  # noqa: E402
from seqnn_engine.genomics.genes import GeneSet, gene_window  # noqa: E402
from seqnn_engine.genomics.genome import Genome  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--out", default=None, help="folder for the HTML files (default: a new temporary folder)")
ap.add_argument("--gene", default="DMG129", help="a gene of the demo annotation")
args = ap.parse_args()
out = Path(args.out or tempfile.mkdtemp(prefix="seqnn_example_"))
out.mkdir(parents=True, exist_ok=True)

# 1. the model, and the model-length window centred on the gene's TSS
model = load_model_dir(REPO / "assets" / "demo")
genes = GeneSet.read(model.model_dir.genes)
gene = genes.get(args.gene)
win = gene_window(gene, model.seq_length, model.stride, model.crop)
seq = Genome(model.model_dir.genome).fetch(gene.chrom, win.start, win.end).sequence
x = onehot.encode(seq)[None]                                     # (1, L, 4)

# 2. a small ensemble: forward + reverse complement, two shifts (4 members)
targets = [4, 6, 7]                                              # ATAC, CAGE+, CAGE-
pred = model.predict(x, rc=True, shifts=(0, 1), target_indexes=targets, return_var=True)

# 3. saliency of the CAGE tracks at the gene's TSS bins
attr = model.attribute(x, "saliency", targets=[6, 7], positions=[int(b) for b in win.tss_bins], rc=True)

# 4. figures: tracks with the ensemble band (+-1 sd) and the genes of the window, and a logo
bins = win.start + (model.crop + np.arange(model.target_length) + 0.5) * model.stride   # bin centres
shown = [plot.GeneFeature.from_gene(g) for g in genes.overlapping(gene.chrom, win.start, win.end)]
names = [model.targets.identifier[t] for t in targets]
tracks = plot.prediction_tracks(pred, bins, labels=names, genes=shown, x_title=gene.chrom,
                                title=f"{gene.gene_name}: {len(pred.member_labels)} ensemble members")
centre = win.center - win.start                                  # the TSS, as a position in the window
logo = plot.attribution_logo(attr, x, centre - 50, centre + 50, x0=win.start + centre - 50,
                             title=f"Saliency at the bases, {gene.gene_name} TSS +-50 bp")

tracks.write_html(out / "tracks.html")
logo.write_html(out / "logo.html")
print(f"wrote {out / 'tracks.html'} and {out / 'logo.html'}")
