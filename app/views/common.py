"""What every detail view receives: the model, the input, the options, the prediction and the
selected range, plus small display helpers."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from app import geometry
from app.cache import ResultCache
from app.inputs import Options, SeqInput

PLOTLY_CONFIG = {"displaylogo": False, "scrollZoom": False,
                 "toImageButtonOptions": {"format": "svg", "scale": 2},
                 "modeBarButtonsToRemove": ["lasso2d", "autoScale2d"]}


@dataclass
class Ctx:
    model: object
    inp: SeqInput
    opts: Options
    cache: ResultCache
    pred: object                 # app.cache.Result of compute.predict
    rng: tuple                   # selected display range [lo, hi)
    short: list                  # short target names (all targets)
    long: list                   # long target labels (all targets)
    cols: np.ndarray             # prediction columns of the chosen targets

    @property
    def L(self) -> int:
        return self.model.seq_length

    @property
    def targets(self) -> list:
        return list(self.opts.targets)

    def target_names(self) -> list:
        return [self.short[t] for t in self.opts.targets]

    def bin_x(self) -> np.ndarray:
        m = self.model
        return geometry.bin_x(self.inp.start, m.stride, m.crop, m.target_length)

    def base_x(self) -> np.ndarray:
        return geometry.base_x(self.inp.start, self.L)

    def positions(self, rng=None) -> tuple[int, int]:
        return geometry.range_positions(rng or self.rng, self.inp.start)

    def range_bins(self, rng=None) -> np.ndarray:
        m = self.model
        return geometry.range_bins(rng or self.rng, self.inp.start, m.stride, m.crop, m.target_length)

    def ref_name(self) -> str:
        """Sequence name for coordinate-bearing exports (bigWig, BED, CSV): the chromosome for
        genome inputs, else the FASTA record name made safe for those formats."""
        if self.inp.genomic:
            return self.inp.chrom
        return re.sub(r"[^A-Za-z0-9_.:|-]+", "_", self.inp.label).strip("_") or "sequence"

    def chrom_sizes(self) -> dict:
        """Header of bigWig exports: the genome's chromosomes, or the user's sequence alone."""
        if not self.inp.genomic:
            return {self.ref_name(): int(self.inp.source_length)}
        from app import state
        return dict(state.genome(str(self.model.model_dir.genome)).chrom_lengths)

    def meta(self, **extra) -> dict:
        m = self.model
        e = self.opts.ensemble
        d = {"model_name": m.name, "model_digest": m.digest, "seq_length": m.seq_length, "stride": m.stride,
             "crop": m.crop, "target_length": m.target_length, "input_label": self.inp.label,
             "input_source": self.inp.source, "chrom": self.inp.chrom or "", "sequence_name": self.ref_name(),
             "window_start": int(self.inp.start),
             "coordinates": "genome, 0-based" if self.inp.genomic else "user sequence, 0-based",
             "targets": [int(t) for t in self.opts.targets], "target_names": self.target_names(),
             "rc": e.rc, "shifts": [int(s) for s in e.shifts], "mc_n": e.mc_n, "n_value": e.n_value,
             "selected_range": [int(self.rng[0]), int(self.rng[1])]}
        d.update(extra)
        return d

    def stem(self) -> str:
        return self.inp.label.split(" ")[0]
