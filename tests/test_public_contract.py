"""The public-name contract: every name earlier issues made public still imports from where it did.

The list is a snapshot of the tree before the issue-17 redesign (one model contract, one preset
registry, one folder per paper): module path -> public names (classes, functions, constants and
``__all__``). Moving code is fine as long as the old path re-exports it; removing a name from here
is a breaking change and needs a deprecation cycle first.
"""

import importlib

import pytest

PUBLIC_NAMES = {'export': ['ExportCheckError', 'QUANTIZATIONS', 'StreamingRunner', 'TOLERANCES', 'add_metadata',
            'assert_builtin_only', 'check_streaming_tflite', 'check_tflite', 'output_names',
            'read_metadata', 'run_tflite', 'tflite_ops', 'to_saved_model', 'to_streaming_tflite',
            'to_tflite'],
 'export.checks': ['ExportCheckError', 'assert_builtin_only', 'compare_outputs', 'interpreter',
                   'run_tflite', 'tflite_ops', 'tflite_tensor_types'],
 'export.cli': ['LABEL_FILES', 'add_parser', 'run'],
 'export.common': ['FRONT_END_CLASSES', 'MAX_WAVEFORM_CHANNELS', 'SCORES', 'check_output_path',
                   'check_signals', 'find_sample_rate', 'fit_length', 'front_end_layers',
                   'input_shape', 'name_outputs', 'output_names', 'replace_path',
                   'representative_waveforms', 'waveform_channels', 'waveform_input_spec',
                   'waveform_only'],
 'export.graph': ['SCORES', 'backend_variables', 'save_module', 'trace_serving_function'],
 'export.metadata': ['LABEL_FILE', 'METADATA_NAME', 'MIN_PARSER_VERSION', 'add_metadata',
                     'metadata_available', 'read_metadata'],
 'export.saved_model': ['check_saved_model', 'to_saved_model'],
 'export.streaming': ['RESET_SIGNATURE', 'SCORES', 'STATE_NAMES', 'STATE_STYLES',
                      'STREAMING_QUANTIZATIONS', 'StreamingPlan', 'StreamingRunner',
                      'check_streaming_tflite', 'offline_reference', 'step_function',
                      'stream_with_function', 'streaming_plan', 'time_chunks',
                      'to_streaming_tflite'],
 'export.tflite': ['QUANTIZATIONS', 'SCORES', 'TOLERANCES', 'check_tflite', 'to_tflite'],
 'export.twin': ['cell_clip', 'lstm_layers', 'lstm_twins', 'recurrent_layers'],
 'keras_audioattn': ['__version__', 'distillation', 'layers', 'losses', 'metrics', 'models'],
 'keras_audioattn.backends': ['BACKENDS', 'INSTALL_HINTS', 'PACKAGES', 'RELAUNCHED_ENV',
                              'check_installed', 'check_training_options', 'current', 'relaunch'],
 'keras_audioattn.cli': ['COMMAND_MODULES', 'UsageError', 'build_parser', 'main'],
 'keras_audioattn.data': ['AudioFileError', 'Manifest', 'SyntheticSet', 'audio_info', 'build_remix',
                          'crop_to_seconds', 'dataset_from_folder', 'dataset_from_manifest',
                          'load_audio', 'load_class_names', 'load_manifest', 'manifest_from_folder',
                          'mix_at_snr', 'pad_waveforms', 'padded_dataset', 'resample', 'rms',
                          'save_class_names', 'synthesize', 'truncate_to_shortest',
                          'write_manifest', 'write_synthetic_corpus'],
 'keras_audioattn.data.audio': ['AudioFileError', 'SUPPORTED_EXTENSIONS', 'audio_info',
                                'load_audio', 'resample'],
 'keras_audioattn.data.batching': ['crop_to_seconds', 'pad_waveforms', 'padded_dataset',
                                   'truncate_to_shortest'],
 'keras_audioattn.data.make_data_cli': ['add_parser', 'run'],
 'keras_audioattn.data.manifest': ['CLASS_NAMES_FILE', 'LAST_DECODE_ERROR', 'Manifest',
                                   'STRONG_COLUMNS', 'SUPPORTED_EXTENSIONS', 'dataset_from_folder',
                                   'dataset_from_manifest', 'load_class_names', 'load_manifest',
                                   'manifest_from_folder', 'save_class_names', 'write_manifest'],
 'keras_audioattn.data.remix': ['PAPER_ONSETS', 'PAPER_SNRS', 'SYNTHETIC_REMIX_CLASSES',
                                'build_remix', 'mix_at_snr', 'place_events', 'plan_remix', 'rms',
                                'synthetic_event_files', 'synthetic_remix'],
 'keras_audioattn.data.synthetic': ['ACCENT_CLASSES', 'ACCENT_STYLES', 'CLASS_NAMES', 'DEFAULTS',
                                    'EVENT_CLASSES', 'MULTI_LABEL', 'SCENE_CLASSES', 'SPLITS',
                                    'SyntheticSet', 'TAG_CLASSES', 'TASKS', 'synthesize',
                                    'write_synthetic_corpus'],
 'keras_audioattn.demo': ['FULL', 'MARKER', 'SMALL', 'main', 'run'],
 'keras_audioattn.distill_cli': ['add_parser', 'run'],
 'keras_audioattn.distillation': ['Distiller', 'PAPER_LOSS_WEIGHTS', 'SETUPS'],
 'keras_audioattn.files': ['NonFiniteWeightsError', 'OWNED_MANIFEST', 'OwnedFolder', 'all_finite',
                           'atomic_path', 'atomic_write', 'check_output_file', 'read_json',
                           'remove_stale_temporaries', 'save_keras_model', 'save_weights',
                           'write_bytes', 'write_json', 'write_text'],
 'keras_audioattn.layers': ['AttentionLSTM', 'CONCAT_MODES', 'ClassifierAttentionBlock',
                            'ClippedLSTM', 'ClippedLSTMCell', 'FRONT_END_PRESETS',
                            'GlobalAttentionPooling', 'GlobalWeightedRankPooling',
                            'IntervalMaxPooling', 'LogMelSpectrogram',
                            'MultimodalAttentionLSTMCell', 'POOLING_LAYERS', 'PreEmphasis',
                            'SPEC_AUGMENT_POLICIES', 'SemanticAttentionLSTMCell', 'SpecAugment',
                            'TagConcatenation', 'TagMultiHeadAttention', 'TagTransform',
                            'TemporalAttentionLSTMCell', 'TimeFrequencyAveragePooling',
                            'TimeFrequencyMaxPooling', 'TwoStepAttentionPooling', 'get_pooling',
                            'mel_filterbank'],
 'keras_audioattn.layers.attention_lstm': ['AttentionLSTM', 'MultimodalAttentionLSTMCell',
                                           'SemanticAttentionLSTMCell', 'TemporalAttentionLSTMCell',
                                           'make_cell'],
 'keras_audioattn.layers.attention_pooling': ['GlobalAttentionPooling', 'GlobalWeightedRankPooling',
                                              'POOLING_LAYERS', 'TIME_MIXINGS',
                                              'TimeFrequencyAveragePooling',
                                              'TimeFrequencyMaxPooling', 'TwoStepAttentionPooling',
                                              'get_pooling'],
 'keras_audioattn.layers.classifier_attention': ['ClassifierAttentionBlock'],
 'keras_audioattn.layers.clipped_lstm': ['ClippedLSTM', 'ClippedLSTMCell'],
 'keras_audioattn.layers.front_ends': ['FRONT_END_PRESETS', 'IntervalMaxPooling',
                                       'LogMelSpectrogram', 'PreEmphasis', 'mel_filterbank'],
 'keras_audioattn.layers.spec_augment': ['SPEC_AUGMENT_POLICIES', 'SpecAugment'],
 'keras_audioattn.layers.tag_attention': ['CONCAT_MODES', 'TagConcatenation',
                                          'TagMultiHeadAttention', 'TagTransform'],
 'keras_audioattn.losses': ['FRAME_REDUCTIONS', 'IntraUtteranceSimilarityLoss',
                            'KnowledgeDistillationLoss', 'NORMALIZATIONS',
                            'SimilarityPreservingLoss', 'batch_similarity',
                            'intra_utterance_similarity', 'resize_time_freq'],
 'keras_audioattn.metrics': ['DCASE2019Task5AUPRC', 'MacroF1', 'UnweightedRecall', 'accuracy',
                             'aggregate_clip_scores', 'average_precision', 'classification_error',
                             'confusion_matrix', 'dcase2019_task5_auprc', 'event_based_f1',
                             'event_based_metrics', 'fold_scores', 'frame_scores_to_events',
                             'gap_at_k', 'hit_at_1', 'macro_f1', 'roc_auc', 'segment_based_f1',
                             'segment_based_metrics', 'unweighted_recall'],
 'keras_audioattn.models': ['AttentionLSTMClassifier', 'AudioTagger', 'CABCNN', 'CNNLSTMStudent',
                            'FeatureStandardization', 'RawWaveformASC', 'TagConditionedASC',
                            'TwoStepAttentionSED', 'VGGishTeacher', 'cab_cnn_training_recipe',
                            'compare_back_ends', 'extract_codes', 'fit_code_svm', 'mixup_batch',
                            'predict_recording', 'tag_asc_training_recipe'],
 'keras_audioattn.models.attention_lstm_classifier': ['AttentionLSTMClassifier', 'PAPER_PRESETS',
                                                      'VARIANTS', 'from_preset',
                                                      'predict_recording', 'split_into_clips'],
 'keras_audioattn.models.audio_tagger': ['AudioTagger', 'DEFAULT_BLOCK_FILTERS',
                                         'DEFAULT_PARAMETER_COUNT_80_TAGS', 'FRONT_END_PRESETS',
                                         'MelTimePooling', 'PAPER_PRESETS', 'SPEC_AUGMENT_POLICIES',
                                         'TAGGER_SPEC_AUGMENT', 'audio_tagger_for_training'],
 'keras_audioattn.models.cab_cnn': ['CABCNN', 'DEFAULT_PARAMETER_COUNT', 'LengthMask',
                                    'PAPER_PRESETS', 'ValidStepAverage',
                                    'cab_cnn_training_recipe'],
 'keras_audioattn.models.cnn_lstm_student': ['CNNLSTMStudent', 'LSTM_SIZES', 'PAPER_PRESETS',
                                             'READOUTS', 'SequenceReadout', 'TABLE2_MEL_BINS'],
 'keras_audioattn.models.code_svm': ['code_view', 'compare_back_ends', 'extract_codes',
                                     'fit_code_svm', 'predict_scores', 'svm_back_end'],
 'keras_audioattn.models.raw_waveform_asc': ['DEFAULT_PARAMETER_COUNT', 'PAPER_BLOCK_FILTERS',
                                             'RawWaveformASC'],
 'keras_audioattn.models.tag_conditioned_asc': ['AUTHORS_BASELINE_PARAMETERS',
                                                'BEST_SYSTEM_NARROW_PARAMETER_COUNT',
                                                'BEST_SYSTEM_PARAMETER_COUNT', 'CONCAT_MODES',
                                                'ChannelMean', 'NARROW_TRANSFORM_UNITS',
                                                'PAPER_BEST_SYSTEM_PARAMETERS', 'PAPER_PRESETS',
                                                'PAPER_TAG_LAYER_INCREMENT', 'TagConditionedASC',
                                                'mixup_batch', 'tag_asc_training_recipe',
                                                'tag_conditioned_asc_for_training'],
 'keras_audioattn.models.two_step_attention_sed': ['FRONT_END_PRESETS', 'FeatureStandardization',
                                                   'PAPER_PRESETS', 'POOLING_LAYERS',
                                                   'TwoStepAttentionSED'],
 'keras_audioattn.models.vggish_teacher': ['PAPER_BLOCKS', 'PAPER_PRESETS', 'POOLINGS',
                                           'TimeMaxPooling', 'VGGishTeacher'],
 'keras_audioattn.plots': ['plot_two_step_attention'],
 'keras_audioattn.presets': ['FAMILIES', 'build_model', 'describe_presets', 'get_preset',
                             'list_presets', 'model_class', 'model_config', 'preset_family'],
 'keras_audioattn.stream_cli': ['add_parser', 'run'],
 'keras_audioattn.train_cli': ['add_parser', 'run_evaluate', 'run_predict', 'run_presets',
                               'run_train'],
 'keras_audioattn.training': ['BACKUP_DIR', 'CLASS_NAMES_FILE', 'CONFIG_FILE', 'EVALUATION_FILE',
                              'LOG_FILE', 'MAX_DURATION_S', 'MAX_SAMPLE_RATE', 'METRIC_NAMES',
                              'MIXED_PRECISION', 'MODEL_FILE', 'STATE_FILE', 'STRATEGIES',
                              'STREAM_CLIPS', 'TENSORBOARD_DIR', 'WORKERS_DIR',
                              'check_numeric_arguments', 'check_sample_rates', 'data_settings',
                              'dtype_policy', 'evaluate', 'format_report', 'load_keras_model',
                              'load_run', 'make_dataset', 'make_strategy', 'predict',
                              'recording_scores', 'set_determinism', 'streamed_recording_scores',
                              'train', 'verify_run']}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_public_names_still_import(module_name):
    module = importlib.import_module(module_name)
    missing = [name for name in PUBLIC_NAMES[module_name] if not hasattr(module, name)]
    assert not missing, f"{module_name} lost public names: {missing}"


#: ``audioattn`` sub-commands and their long flags before the redesign (flags may be added).
COMMAND_FLAGS = {'distill': ['--batch-size', '--duration', '--epochs', '--learning-rate', '--out', '--overwrite',
             '--patience', '--sample-rate', '--seed', '--setup', '--student-config',
             '--student-units', '--teacher', '--teacher-config', '--teacher-epochs',
             '--teacher-learning-rate', '--teacher-preset', '--temperature', '--train', '--val'],
 'evaluate': ['--batch-size', '--data', '--json', '--model', '--overwrite', '--resample'],
 'export': ['--front-end', '--head', '--labels', '--model', '--num-samples', '--overwrite',
            '--quantization', '--representative', '--sample-rate', '--saved-model', '--scores-key',
            '--tflite', '--version'],
 'make-data': ['--duration', '--num-clips', '--out', '--overwrite', '--sample-rate', '--seed',
               '--task'],
 'predict': ['--json', '--model', '--overwrite', '--resample', '--threshold', '--top-k'],
 'presets': [],
 'stream': ['--chunk', '--labels', '--model', '--plot', '--sample-rate', '--threads',
            '--threshold'],
 'train': ['--backend', '--batch-size', '--channels', '--config-overrides', '--deterministic',
           '--duration', '--epochs', '--learning-rate', '--lr', '--mixed-precision',
           '--mixup-alpha', '--optimizer', '--out', '--overwrite', '--patience', '--preset',
           '--resample', '--resume', '--sample-rate', '--seed', '--small', '--strategy', '--tagger',
           '--teacher', '--train', '--val', '--verbose']}


def _subcommands():
    import argparse

    from keras_audioattn import cli

    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("command", sorted(COMMAND_FLAGS))
def test_audioattn_command_keeps_its_flags(command):
    choices = _subcommands()
    assert command in choices, f"`audioattn {command}` is gone"
    flags = {o for a in choices[command]._actions for o in a.option_strings}
    missing = sorted(set(COMMAND_FLAGS[command]) - flags)
    assert not missing, f"`audioattn {command}` lost flags {missing}"


def test_console_script_entry_point():
    from keras_audioattn import cli

    assert callable(cli.main)
