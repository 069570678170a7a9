"""SpecAugment (Park et al. 2019 masking; Jung et al. 2020 §4.2's tagger augmentation): training
only, masks within the policy's bounds, a NumPy application of the drawn masks, seeding, the
.keras round trip and the AudioTagger wiring (frozen tagger = inference mode)."""

import numpy as np
import pytest

import keras

from keras_audioattn import preset_registry
from keras_audioattn.layers import SPEC_AUGMENT_POLICIES, SpecAugment
from keras_audioattn.models import AudioTagger

_np = keras.ops.convert_to_numpy

#: The tiny tagger (``jung2020-tagger-tiny``) at 8 kHz, its dropout and SpecAugment given by the test.
TAGGER = {**{k: v for k, v in preset_registry.get("jung2020-tagger-tiny").model.items()
             if k not in ("num_classes", "spec_augment", "dropout")}, "sample_rate": 8000}


def _x(batch=4, frames=40, bins=16, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, frames, bins)).astype("float32") + 3.0


def _numpy_masks(x, masks, value):
    """Park et al. §2: bins [f0, f0 + f) and frames [t0, t0 + t) of each example set to ``value``."""
    out = x.copy()
    for b in range(x.shape[0]):
        for f0, f in zip(*[np.asarray(_np(a))[b] for a in masks.get("freq", ([], []))]):
            out[b, :, f0:f0 + f] = value
        for t0, t in zip(*[np.asarray(_np(a))[b] for a in masks.get("time", ([], []))]):
            out[b, t0:t0 + t, :] = value
    return out


# --- basics -----------------------------------------------------------------------------------


def test_defaults_are_the_ld_policy_and_config_round_trip(tmp_path):
    layer = SpecAugment()
    config = layer.get_config()
    assert {k: config[k] for k in SPEC_AUGMENT_POLICIES["LD"]} == SPEC_AUGMENT_POLICIES["LD"]
    assert (config["freq_mask_param"], config["num_freq_masks"], config["time_mask_param"],
            config["num_time_masks"], config["time_mask_ratio"]) == (27, 2, 100, 2, 1.0)
    model = keras.Sequential([keras.Input((None, 16)), keras.layers.Dense(4),
                              SpecAugment(freq_mask_param=2, time_mask_param=3, mask_value=0.5, seed=9, name="sa")])
    x = _x()
    path = tmp_path / "sa.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.get_layer("sa").get_config() == model.get_layer("sa").get_config()
    assert not model.get_layer("sa").weights  # no trainable state; the seed state is not a weight


def test_bad_arguments():
    with pytest.raises(ValueError, match="freq_mask_param"):
        SpecAugment(freq_mask_param=-1)
    with pytest.raises(ValueError, match="time_mask_ratio"):
        SpecAugment(time_mask_ratio=1.5)
    with pytest.raises(ValueError, match="spec_augment"):
        AudioTagger(3, spec_augment=True)


def test_identity_at_inference():
    x = _x()
    layer = SpecAugment(freq_mask_param=8, time_mask_param=10, seed=0)
    np.testing.assert_array_equal(_np(layer(x)), x)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    model = keras.Sequential([keras.Input((None, 16)), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(_np(layer(x, training=True)), x)


def test_seeding():
    x = _x()
    a, b = SpecAugment(seed=3), SpecAugment(seed=3)
    first = _np(a(x, training=True))
    np.testing.assert_array_equal(first, _np(b(x, training=True)))  # same seed, same masks
    assert not np.array_equal(first, _np(a(x, training=True)))  # the generator advances per call
    assert SpecAugment().get_config()["seed"] is None


def test_audio_tagger_spec_augment_and_frozen_inference_mode(tmp_path):
    """SpecAugment sits after the per-band standardisation, adds no weight, is on in training only;
    a frozen tagger stays in inference mode inside a training model (no dropout, no masking)."""
    plain = AudioTagger(3, dropout=0.5, **TAGGER)
    augmented = AudioTagger(3, dropout=0.5, spec_augment={"freq_mask_param": 4, "time_mask_param": 4, "seed": 0},
                            **TAGGER)
    assert plain.count_params() == augmented.count_params()
    names = [layer.name for layer in augmented.layers]
    assert names.index("spec_augment") == names.index("mel_norm") + 1
    x = np.random.default_rng(0).normal(size=(3, 4000)).astype("float32") * 0.1
    augmented.set_weights(plain.get_weights())
    np.testing.assert_allclose(_np(augmented(x)), _np(plain(x)), atol=1e-6)  # identity at inference
    assert not np.allclose(_np(augmented(x, training=True)), _np(augmented(x)))
    augmented.trainable = False
    outer_in = keras.Input((None,))
    outer = keras.Model(outer_in, augmented(outer_in))
    np.testing.assert_allclose(_np(outer(x, training=True)), _np(augmented(x)), atol=1e-6)
    # It trains (mix-up is the driver's), saves and reloads with the same inference outputs.
    augmented.trainable = True
    augmented.compile(optimizer="adam", loss="binary_crossentropy")
    augmented.fit(x, np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], "float32"), epochs=1, verbose=0)
    augmented.save(tmp_path / "tagger.keras")
    loaded = keras.saving.load_model(tmp_path / "tagger.keras")
    np.testing.assert_allclose(_np(loaded(x)), _np(augmented(x)), atol=1e-5)
    assert loaded.spec_augment == augmented.spec_augment


# --- paper fidelity ---------------------------------------------------------------------------


def test_masks_lie_within_the_policy_bounds():
    frames, bins = 50, 16
    layer = SpecAugment(freq_mask_param=6, num_freq_masks=3, time_mask_param=30, num_time_masks=2,
                        time_mask_ratio=0.2, seed=1)
    masks = layer.sample_masks(256, frames, bins)
    f0, f = (np.asarray(_np(a)) for a in masks["freq"])
    t0, t = (np.asarray(_np(a)) for a in masks["time"])
    assert f0.shape == f.shape == (256, 3) and t0.shape == t.shape == (256, 2)
    assert f.min() == 0 and f.max() == 6 and len(np.unique(f)) == 7  # U{0..F}
    assert t.min() == 0 and t.max() == 10  # min(T=30, floor(p * 50) = 10)
    assert (f0 >= 0).all() and (f0 + f <= bins).all() and (t0 >= 0).all() and (t0 + t <= frames).all()
    # Widths larger than the clip are capped at its size, never indexed out of range.
    big = SpecAugment(freq_mask_param=40, time_mask_param=100, seed=2).sample_masks(64, 5, 8)
    assert np.asarray(_np(big["freq"][1])).max() <= 8 and np.asarray(_np(big["time"][1])).max() <= 5
    assert (np.asarray(_np(big["time"][0])) + np.asarray(_np(big["time"][1])) <= 5).all()


@pytest.mark.parametrize("value", [0.0, -1.5])
def test_training_call_equals_numpy_application_of_the_drawn_masks(value):
    x = _x(batch=6, frames=30, bins=12)
    kwargs = dict(freq_mask_param=5, num_freq_masks=2, time_mask_param=8, num_time_masks=2, mask_value=value, seed=7)
    masks = SpecAugment(**kwargs).sample_masks(6, 30, 12)  # the same seed draws the same masks
    out = _np(SpecAugment(**kwargs)(x, training=True))
    np.testing.assert_array_equal(out, _numpy_masks(x, masks, value))
    # Masked cells hold the value, every other cell is the input; masks are whole bands.
    masked = out != x
    assert masked.any() and np.all(out[masked] == value)
    for b in range(6):
        rows = masked[b].all(axis=1)  # whole frames
        cols = masked[b].all(axis=0)  # whole bins
        np.testing.assert_array_equal(masked[b], rows[:, None] | cols[None, :])
