"""Runs another bench script under a Keras dtype policy, e.g. mixed bfloat16 on a CPU with AVX-512 BF16.

    .venv/bin/python bench/with_policy.py mixed_bfloat16 bench/two_step_attention_sed.py --config paper

The policy is set before the script imports the models, so every layer is built under it (the
models keep their softmax / sigmoid outputs in float32, as ``audioattn train --mixed-precision``).
"""

import os
import runpy
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    import keras

    keras.mixed_precision.set_global_policy(sys.argv[1])
    script = sys.argv[2]
    sys.argv = [script] + sys.argv[3:]
    runpy.run_path(script, run_name="__main__")
