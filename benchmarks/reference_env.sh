#!/usr/bin/env bash
# Creates the separate virtual environment that runs the REFERENCE implementation (calico/baskerville)
# for the side-by-side benchmarks (benchmarks/bench_borzoi.py). It is never part of the project's
# requirements: the reference needs legacy Keras 2 (tf_keras), which pulls the full tensorflow wheel.
#
#   SEQNN_REFERENCE_VENV  where to create it (default: benchmarks/.venv-reference, git-ignored)
#   SEQNN_REFERENCE_SRC   at benchmark time: the src/ folder of a calico/baskerville checkout, put on the
#                         reference venv's PYTHONPATH (the package is not installed into the venv).
#   PYTHON                the Python 3.11 interpreter to create the venv from (default: python3.11)
#
# Optional argument: a calico/baskerville git checkout (or bare git dir); its committed src/ is then
# exported into $venv/baskerville-src/src, the default SEQNN_REFERENCE_SRC of bench_borzoi.py:
#   bash benchmarks/reference_env.sh /path/to/baskerville
#
# Note: the PyPI package named "baskerville" is an unrelated project (a schema-inference library), not
# calico's; do not install it. Use a checkout of https://github.com/calico/baskerville instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SEQNN_REFERENCE_VENV:-$here/.venv-reference}"
python="${PYTHON:-python3.11}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# Legacy Keras for the reference, and the packages its seqnn module imports at module level
# (seqnn -> transfer -> trainer -> helpers.gcs_utils needs google-cloud-storage).
"$venv/bin/python" -m pip install --quiet \
  "tensorflow>=2.21,<2.22" "tf_keras>=2.21,<2.22" \
  "numpy>=1.26,<3" "natsort>=8,<9" "pandas>=2,<3" "scipy>=1.11,<2" "h5py>=3.10,<4" \
  "google-cloud-storage>=2,<4"
if [ "${1:-}" != "" ]; then
  rm -rf "$venv/baskerville-src" && mkdir -p "$venv/baskerville-src"
  git -C "$1" archive HEAD src/baskerville | tar -x -C "$venv/baskerville-src"
  echo "reference source exported to $venv/baskerville-src/src"
fi
"$venv/bin/python" - <<'PY'
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf, tf_keras
print("reference venv ready: tensorflow", tf.__version__, "tf_keras", tf_keras.__version__)
PY
echo "SEQNN_REFERENCE_VENV=$venv"
