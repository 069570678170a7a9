"""A `.keras` file saved before the issue-17 redesign still loads and gives the outputs it gave then.

The fixtures (tests/data/saved_before_redesign/, written by make_fixtures.py at commit 229e503) hold
one tiny model per class with the old argument names (``num_tags``, ``clip_duration``, ...), old
output names and old module paths in their configs.
"""

import glob
import os

import keras
import numpy as np
import pytest

import keras_audioattn  # noqa: F401  (registration)

HERE = os.path.join(os.path.dirname(__file__), "data", "saved_before_redesign")
FIXTURES = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(HERE, "*.keras")))


def test_every_model_class_has_a_fixture():
    assert len(FIXTURES) == 8, FIXTURES


@pytest.mark.parametrize("name", FIXTURES)
def test_old_file_loads_with_identical_outputs(name):
    stored = np.load(os.path.join(HERE, f"{name}.npz"))
    model = keras.saving.load_model(os.path.join(HERE, f"{name}.keras"), compile=False)
    out = model(stored["inputs"], training=False)
    expected = {k[len("out_"):]: stored[k] for k in stored.files if k.startswith("out_")}
    if not isinstance(out, dict):
        out = {"output": out}
    # An old output name may have a new one (e.g. "clip" -> "scores"): the class's deprecated_outputs says.
    renamed = dict(getattr(type(model), "deprecated_outputs", {}))
    assert len(out) == len(expected), (sorted(out), sorted(expected))
    for old_name, want in expected.items():
        new_name = old_name if old_name in out else renamed.get(old_name, old_name)
        assert new_name in out, (name, old_name, sorted(out))
        np.testing.assert_allclose(np.asarray(out[new_name]), want, atol=1e-6, rtol=1e-6,
                                   err_msg=f"{name}: output {new_name} (saved as {old_name})")
