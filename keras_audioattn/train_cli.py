"""Deprecated path: ``audioattn presets / train / evaluate / predict`` live in :mod:`keras_audioattn.cli`
(one module per command). Kept so that earlier imports work."""

from keras_audioattn.cli import evaluate as _evaluate
from keras_audioattn.cli import predict as _predict
from keras_audioattn.cli import presets as _presets
from keras_audioattn.cli import train as _train
from keras_audioattn.cli.evaluate import run_evaluate
from keras_audioattn.cli.predict import run_predict
from keras_audioattn.cli.presets import run_presets
from keras_audioattn.cli.train import run_train


def add_parser(subparsers):
    """Registers presets, train, evaluate and predict (what this module registered before)."""
    for module in (_presets, _train, _evaluate, _predict):
        parser = module.add_parser(subparsers)
    return parser


__all__ = ["add_parser", "run_evaluate", "run_predict", "run_presets", "run_train"]
