"""The ASC's A/B of ``bench/custom_gradients.py`` (kept so the documented commands still run):
``python bench/asc_custom_gradients.py ARGS`` is ``python bench/custom_gradients.py --model asc ARGS``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.custom_gradients import main  # noqa: E402

if __name__ == "__main__":
    main(["--model", "asc"] + sys.argv[1:])
