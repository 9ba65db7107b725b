"""``python -m seqnn_engine``: see :mod:`seqnn_engine.cli`."""
from seqnn_engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
