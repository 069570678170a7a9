"""``make bench``: runs every benchmark script in its own process and keeps what each printed.

    .venv/bin/python bench/run_all.py [--only frontend export ...] [--out bench/results] [--list]

Each entry below is one script with the arguments used for ``docs/benchmarks.md``. Its stdout
goes to ``OUT/<name>.txt`` and, where the script writes JSON, to ``OUT/<name>.json``; the load
average before and after each run is recorded in ``OUT/<name>.txt`` too, because figures taken
on a busy machine are not comparable with figures taken on an idle one. Benchmarks are not
tests: nothing here asserts, and the full set takes tens of minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (script, arguments); "{out}" is replaced by the output folder, "{here}" by bench/.
BENCHMARKS = {
    "frontend": ("frontend.py", ["--conversion", "--json", "{out}/frontend.json"]),
    "data": ("data.py", ["--num-clips", "200"]),
    "export": ("export.py", ["--units", "16", "128", "--out", "{out}/export.json"]),
    "iusp_students": ("iusp_students.py", ["--out", "{out}/iusp_students", "--num-clips", "480", "--epochs", "15",
                                           "--batch-size", "16", "--latency-runs", "30",
                                           "--calibration-clips", "48"]),
    "attention_lstm": ("attention_lstm.py", ["--json", "{out}/attention_lstm.json"]),
    "cab_cnn": ("cab_cnn.py", ["--seconds", "5", "10", "--steps", "3", "--json", "{out}/cab_cnn.json"]),
    "two_step_attention_sed_paper": ("two_step_attention_sed.py", ["--config", "paper", "--steps", "3"]),
    "two_step_attention_sed_reduced": ("two_step_attention_sed.py", ["--config", "reduced", "--steps", "5"]),
    "jung2020_tag_asc": ("jung2020_tag_asc.py", []),
    "vggish_teacher_all_trainable": ("vggish_teacher.py", ["--steps", "3"]),
    "vggish_teacher_4_frozen": ("vggish_teacher.py", ["--steps", "3", "--frozen-convs", "4"]),
    # The same under mixed bfloat16 (this CPU has AVX-512 BF16): audioattn train --mixed-precision bfloat16.
    "two_step_attention_sed_paper_bf16": ("with_policy.py", ["mixed_bfloat16", "{here}/two_step_attention_sed.py",
                                                             "--config", "paper", "--steps", "2"]),
    "jung2020_tag_asc_bf16": ("with_policy.py", ["mixed_bfloat16", "{here}/jung2020_tag_asc.py"]),
    "vggish_teacher_all_trainable_bf16": ("with_policy.py", ["mixed_bfloat16", "{here}/vggish_teacher.py",
                                                             "--steps", "2"]),
    # Second wave (issues 14-19): the papers' claims over seeds, streaming, backends, files.
    "paper_claims": ("paper_claims.py", []),
    "chang2020_setups": ("chang2020_setups.py", ["--num-clips", "200", "--epochs", "8", "--patience", "3",
                                                 "--teacher-epochs", "20", "--teacher-patience", "5"]),
    "chang2020_student_recipe": ("chang2020_student_recipe.py", ["--threads", "1", "--num-clips", "400", "--epochs", "36",
                                                                 "--patience", "10", "--variants", "last", "last+norm",
                                                                 "last@1e-3", "mean", "max", "mean+norm"]),
    "streaming": ("streaming.py", ["--epochs", "30", "--out", "{out}/streaming.json"]),
    "streaming_size": ("streaming_size.py", ["--readouts", "last", "mean", "max", "--rounds", "5",
                                             "--out", "{out}/streaming_size.json"]),
    "frontend_speed": ("frontend_speed.py", ["--repeats", "30", "--out", "{out}/frontend_speed.json"]),
    "backend_speed": ("backend_speed.py", []),
    # Issue 18: against the authors' PyTorch code in the same run; Keras only unless the environment
    # names their code (AUDIOATTN_REFERENCE_DIR) and the harness (AUDIOATTN_REFERENCE_HARNESS).
    "side_by_side": ("side_by_side.py", ["--steps", "3", "--warmup", "2", "--out", "{out}/side_by_side.json"]),
    "asc_custom_gradients": ("asc_custom_gradients.py", ["--repeats", "3", "--out", "{out}/asc_custom_gradients.json"]),
    "teacher_custom_gradients": ("custom_gradients.py", ["--model", "teacher", "--repeats", "4", "--steps", "4",
                                                         "--out", "{out}/teacher_custom_gradients.json"]),
    "model_flops": ("model_flops.py", ["--out", "{out}/model_flops.json"]),
    "long_audio_memory": ("long_audio_memory.py", ["--short-minutes", "3", "--long-minutes", "180",
                                                   "--json", "{out}/long_audio_memory.json"]),
    "kill_resume": ("kill_resume.py", ["--seeds", "0", "1", "--kills-per-seed", "2"]),
    # Issue 19: CAB-CNN exported in every mode from models trained on clips with pauses.
    "cab_int8_silence": ("cab_int8_silence.py", []),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name in args.only or list(BENCHMARKS):
        script, script_args = BENCHMARKS[name]
        path = os.path.join(HERE, script)
        command = [sys.executable, path] + [a.format(out=args.out, here=HERE) for a in script_args]
        print("$ " + " ".join(command), flush=True)
        if args.list:
            continue
        if not os.path.isfile(path):
            print(f"  missing: {path}")
            failed.append(name)
            continue
        load_before = os.getloadavg()
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=os.path.dirname(HERE))
        seconds = time.perf_counter() - start
        with open(os.path.join(args.out, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write(f"$ {' '.join(command)}\n# load average before {load_before}, after {os.getloadavg()}, "
                    f"{seconds:.0f} s, exit {result.returncode}\n{result.stdout}")
        print(result.stdout[-2000:], flush=True)
        if result.returncode:
            print(result.stderr[-2000:], file=sys.stderr)
            failed.append(name)
        print(f"  {name}: {seconds:.0f} s, exit {result.returncode}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
