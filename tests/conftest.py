"""Shared test fixtures: deterministic seeds (environment set-up: the root conftest.py), and the
``large`` marker (setup.cfg) given in one place, :data:`LARGE_TESTS`."""

import pytest

#: The slow tests, marked ``large`` at collection (``make test-quick`` = ``-m "not large"``).
#: An entry is a file (``tests/test_x.py``, ``notebooks/x.ipynb``: every test in it) or a test
#: (``tests/test_x.py::test_name``: every parametrisation of it). Each entry's comment is the
#: time measured on the shared 2-core machine, one file at a time (``--durations=20``), before
#: the issue-17 redesign; tests/test_helpers.py checks that every entry still names a test.
LARGE_TESTS = (
    # The backend matrix (JAX / torch subprocesses): 324 s for the file.
    "tests/test_backends.py",
    # Notebooks, executed by nbmake in their small configuration.
    "notebooks/chang2020_iusp.ipynb",  # 59 s
    "notebooks/deshmukh2020_2apae.ipynb",  # 85 s
    "notebooks/jung2020_tag_asc.ipynb",  # 57 s
    "notebooks/lu2020_cab_cnn.ipynb",  # 55 s
    "notebooks/zhang2018_attention_lstm.ipynb",  # 36 s
    # The demo, end to end.
    "tests/test_demo.py::test_small_demo_runs_end_to_end_and_reruns",  # 133 s
    # End-to-end CLI runs (train / evaluate / predict / distill in subprocesses or full runs).
    "tests/test_train_cli.py::test_jung_tagger_then_tag_conditioned_asc",  # 118 s
    "tests/test_train_cli.py::test_cab_cnn_train_evaluate_predict",  # 52 s
    "tests/test_train_cli.py::test_killed_run_resumes_from_last_epoch",  # 28 s
    "tests/test_cli.py::test_console_script_installed",  # 34 s
    "tests/test_distillation.py::test_distill_cli",  # 26 s
    "tests/test_export_saved_model.py::test_saved_model_cli_and_fresh_process",  # 75 s
    "tests/test_bad_inputs.py::test_kill_during_checkpoint_write_then_resume_matches_uninterrupted",  # 22 s
    "tests/test_package.py::test_import_registers_models_for_load_model",  # 12 s (a fresh process)
    # Distribution strategies and determinism (several processes / devices, full fits).
    "tests/test_training.py::test_multi_worker_two_processes_match_one_device",  # 48 s
    "tests/test_training.py::test_mirrored_two_cpu_devices_matches_one_device",  # 43 s
    "tests/test_training.py::test_same_seed_same_weights",  # 25 s
    "tests/test_distillation.py::test_every_setup_trains_with_fit",  # 18 s
    "tests/test_distillation.py::test_trained_student_is_ordinary_model",  # 12 s
    # Long export tests. Not test_export_tflite.py's mode matrix: its cost is the module fixtures'
    # conversions (28 s), which the file's other tests need too -- marking the matrix only moved
    # that time onto test_int8_is_integer_after_float_front_end (22 s in the quick run).
    "tests/test_export_streaming.py::test_streamed_scores_equal_offline_after_every_chunk",  # 29 s
    "tests/test_export_streaming.py::test_int8_internal_state_matches_keras",  # 12 s
    "tests/test_export_saved_model.py::test_layout_and_assets",  # 11 s
    "tests/test_iusp_models.py::test_lstm16_10s_int8_with_pooled_readout",  # 44 + 32 s
    "tests/test_iusp_models.py::test_student_full_int8_tflite",  # 10 s
    "tests/test_cab_cnn.py::test_saved_model_serves_the_keras_scores",  # 16 s with the LiteRT test before the split; 2 s
    "tests/test_cab_cnn.py::test_litert_export",  # 4 + 4 s (float32, int8)
    "tests/test_tag_conditioned_asc.py::test_export_tflite_float32_and_int8",  # 17 s
    "tests/test_tag_conditioned_asc.py::test_export_stereo_tflite_float32_int8_and_saved_model",  # 12 s
    "tests/test_two_step_attention_sed.py::test_saved_model_log_mel_in",  # 22 s
    "tests/test_two_step_attention_sed.py::test_saved_model_waveform_in_clip_and_frame_named",  # 14 s
    "tests/test_two_step_attention_sed.py::test_tflite_float32_builtin_ops_in_litert",  # 15 s
    # Training to a result (overfit / learn a tiny task: many fit epochs).
    "tests/test_two_step_attention_sed.py::test_fit_with_clip_labels_only_overfits_and_trains_the_decoder",  # 74 + 37 s
    "tests/test_two_step_attention_sed.py::test_frame_outputs_give_events_and_f1_against_strong_labels",  # 27 s
    "tests/test_raw_waveform_asc.py::test_batchnorm_momentum_lets_inference_statistics_catch_up_on_quiet_waveforms",  # 20 s
    "tests/test_raw_waveform_asc.py::test_overfits_a_tiny_batch_and_svm_back_end",  # 20 s
    "tests/test_tag_conditioned_asc.py::test_overfits_a_tiny_batch_and_svm_back_end",  # 46 s
    "tests/test_tag_conditioned_asc.py::test_frozen_tagger_has_no_trainable_weights_and_does_not_change",  # 25 s
    "tests/test_iusp_models.py::test_10s_student_learns_a_tiny_task",  # 12 s
    "tests/test_iusp_models.py::test_overfits_tiny_batch",  # 14 + 11 s
    "tests/test_cab_cnn.py::test_overfits_a_tiny_batch",  # 10 s
)


def _is_large(nodeid):
    path, _, rest = nodeid.partition("::")
    for entry in LARGE_TESTS:
        entry_path, _, entry_test = entry.partition("::")
        if path != entry_path:
            continue
        if not entry_test:
            return True
        test = rest.split("[", 1)[0]
        if test == entry_test or test.startswith(entry_test + "::"):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    large = pytest.mark.large
    for item in items:
        if _is_large(item.nodeid):
            item.add_marker(large)


@pytest.fixture(autouse=True)
def _seed_everything():
    import keras

    keras.utils.set_random_seed(1234)
    yield
