"""``audioattn export``: a trained Keras model -> TF Serving SavedModel and/or a checked .tflite.

    audioattn export --model run/model.keras --saved-model models/tagger \\
        --tflite tagger_int8.tflite --quantization int8 --representative train.csv

``--model`` is a ``.keras`` file or a folder holding one (a run folder: its ``model.keras``;
:func:`keras_audioattn.training.resolve_model`, the resolver of every model flag). Class names
come from ``--labels`` (a file, one per line or a JSON list), else a ``class_names.txt`` /
``class_names.json`` / ``labels.txt`` beside the model, else the representative manifest's
classes when their count matches the model's outputs.
"""

from __future__ import annotations

import os

import keras

from keras_audioattn.cli.common import CommandFailed
from keras_audioattn.data.manifest import load_class_names, load_manifest
from keras_audioattn.training.arguments import ArgumentError
from keras_audioattn.training.run_folder import resolve_model

LABEL_FILES = ("class_names.txt", "class_names.json", "labels.txt")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a trained model to a TF Serving SavedModel and/or a checked .tflite",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help=".keras file or a folder holding one")
    parser.add_argument("--saved-model", help="SavedModel base path; writes BASE/<version>/")
    parser.add_argument("--version", type=int, default=1, help="SavedModel version directory (default 1)")
    parser.add_argument("--tflite", help="output .tflite path")
    parser.add_argument("--quantization", default="float32", choices=["float32", "float16", "dynamic", "int8"])
    parser.add_argument("--representative", help="manifest CSV of calibration clips (required for int8)")
    parser.add_argument("--front-end", default="float", choices=["float", "int8"],
                        help="int8 only: keep the front end float (default) or quantize it too")
    parser.add_argument("--head", default=None, choices=["float", "int8"],
                        help="int8 only: keep the output layer (last dense + sigmoid/softmax) float or quantize "
                             "it too (default: float with a float front end, int8 with --front-end int8)")
    parser.add_argument("--labels", help="class-name file (one per line, or a JSON list)")
    parser.add_argument("--sample-rate", type=int, help="Hz (default: from the model's front end)")
    parser.add_argument("--num-samples", type=int, help="TFLite input length for variable-length models")
    parser.add_argument("--scores-key", help="for dict-output models: the output exported as 'scores'")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)
    return parser


def _labels(args, model_path, num_classes):
    """Class names: --labels, else a class-name file beside the model, else the representative manifest's."""
    if args.labels:
        return load_class_names(args.labels)
    folder = os.path.dirname(os.path.abspath(model_path))
    for name in LABEL_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            return load_class_names(os.path.join(folder, name))
    if args.representative:
        names = list(load_manifest(args.representative, check_files=False).class_names)
        if len(names) == num_classes:
            return names
    raise ValueError(f"no class names found: pass --labels FILE or put one of {LABEL_FILES} beside the model")


def _check_model_inputs(model, model_path):
    """Clear errors, with the right fix, for run models that export cannot take as they are."""
    inputs = list(getattr(model, "inputs", None) or [])
    shapes = [tuple(i.shape) for i in inputs]
    if len(inputs) == 2 and len(shapes[1]) <= 2 and "int" in str(getattr(inputs[1], "dtype", "")):
        raise ValueError(
            f"{model_path} takes (waveform, lengths) inputs (variable-length CAB-CNN): export needs one "
            f"waveform input. Build the model without the lengths input (a fixed --num-samples clip has no "
            f"padding to mask) and export that; see docs/export.md")
    # A (batch, samples, channels) model (a stereo Jung run) exports as it is.


def _check_number(argument, value, low=1):
    if value is not None and value < low:
        raise ArgumentError(argument, f"must be >= {low}, got {value}")


def run(args):
    """Checks every flag and output before any work, then writes the SavedModel and/or .tflite."""
    if not args.saved_model and not args.tflite:
        raise ValueError("nothing to do: pass --saved-model and/or --tflite")
    _check_number("version", args.version, 0)
    _check_number("sample_rate", args.sample_rate)
    _check_number("num_samples", args.num_samples)
    if args.tflite and os.path.isdir(args.tflite):
        raise ValueError(f"--tflite {args.tflite} is a folder; give a file path, e.g. "
                         f"{os.path.join(args.tflite, 'model.tflite')}")
    if args.tflite and not os.path.isdir(os.path.dirname(os.path.abspath(args.tflite))):
        raise ValueError(f"--tflite {args.tflite}: the folder {os.path.dirname(os.path.abspath(args.tflite))} "
                         f"does not exist (create it first)")
    if args.representative and not os.path.isfile(args.representative):
        raise FileNotFoundError(f"--representative manifest not found: {args.representative}")
    if args.quantization == "int8" and args.tflite and not args.representative:
        raise ValueError("--quantization int8 needs --representative MANIFEST.csv for calibration")
    # Refuse before any work when an output exists.
    if not args.overwrite:
        for out in filter(None, [args.tflite, args.saved_model and os.path.join(args.saved_model, str(args.version))]):
            if os.path.exists(out):
                raise FileExistsError(f"{out} already exists; pass --overwrite")
    model_path = resolve_model(args.model, "model")

    # Deferred: the export stack (TFLite converter, LiteRT, metadata writers) loads only when a
    # model is exported, not for every `audioattn` command whose parser this module builds.
    import export

    try:
        model = keras.saving.load_model(model_path)
    except Exception as error:  # noqa: BLE001  (a file that does not open is damaged or foreign)
        first = str(error).splitlines()[0][:200] if str(error) else ""
        raise ValueError(f"--model {model_path} does not open as a Keras model "
                         f"({type(error).__name__}: {first})") from None
    model = export.common.waveform_only(model)
    _check_model_inputs(model, model_path)
    export.common.waveform_input_spec(model)
    num_classes = int(model.outputs[0].shape[-1]) if not isinstance(model.output, dict) else None
    labels = _labels(args, model_path, num_classes)
    model_rate = export.common.find_sample_rate(model)
    if args.sample_rate is not None and model_rate is not None and args.sample_rate != model_rate:
        raise ValueError(f"--sample-rate {args.sample_rate} differs from the model's {model_rate} Hz: the model hears "
                         f"{model_rate} Hz audio, and the metadata must say so (omit --sample-rate)")
    sample_rate = export.common.find_sample_rate(model, args.sample_rate)
    if sample_rate is None:
        raise ValueError("the model has no sample_rate attribute: pass --sample-rate")
    if args.saved_model:
        try:
            path = export.to_saved_model(model, args.saved_model, labels, sample_rate, version=args.version,
                                         scores_key=args.scores_key, overwrite=args.overwrite)
        except export.ExportCheckError as error:
            raise CommandFailed(f"SavedModel {args.saved_model}: {error}") from None
        print(f"SavedModel: {path}")
    if args.tflite:
        try:
            path = export.to_tflite(model, args.tflite, args.quantization, representative_data=args.representative,
                                    labels=labels, sample_rate=sample_rate, num_samples=args.num_samples,
                                    front_end=args.front_end, head=args.head, scores_key=args.scores_key,
                                    overwrite=args.overwrite)
        except export.ExportCheckError as error:  # one line naming the flags, not a traceback
            raise CommandFailed(f"{error} (the file is kept as {args.tflite}.failed)",
                                getattr(error, "arguments", ())) from None
        print(f"TFLite ({args.quantization}): {path} ({os.path.getsize(path)} bytes)")
        channels = export.common.waveform_channels(model)
        if channels is not None:
            print(f"note: the .tflite takes {channels}-channel audio (1, samples, {channels}): it runs in LiteRT; "
                  f"MediaPipe's AudioClassifier takes rank <= 2 inputs only (train with --channels 1 for it)")
    return 0
