"""Benchmark of the data side: synthetic-corpus generation and tf.data decoding throughput.

Usage: python bench/data.py [--num-clips 200] [--out /tmp/audioattn_bench_data]
Prints seconds to synthesise each task, seconds to write the scenes corpus, and clips/s of
``dataset_from_manifest`` decoding 10 s 16 kHz wav clips (batch 32, AUTOTUNE), first epoch
and cached second epoch. Run it on an otherwise idle machine; it reports ``os.getloadavg()``.
"""

import argparse
import os
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-clips", type=int, default=200)
    parser.add_argument("--out", default="/tmp/audioattn_bench_data")
    args = parser.parse_args()
    from keras_audioattn.data import dataset_from_manifest, synthesize, write_synthetic_corpus
    from keras_audioattn.data.synthetic import TASKS

    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    for task in TASKS:
        start = time.perf_counter()
        data = synthesize(task, args.num_clips, seed=0)
        seconds = time.perf_counter() - start
        audio = sum(len(w) for w in data.waveforms) / data.sample_rate
        print(f"synthesize {task:8s}: {args.num_clips} clips, {audio:7.0f} s of audio in {seconds:6.2f} s "
              f"({audio / seconds:6.0f}x real time)")
    shutil.rmtree(args.out, ignore_errors=True)
    start = time.perf_counter()
    manifest = write_synthetic_corpus("scenes", args.out, args.num_clips, seed=0)
    print(f"write_synthetic_corpus scenes: {time.perf_counter() - start:.2f} s")
    for cache in (False, True):
        ds = dataset_from_manifest(manifest, sample_rate=16000, duration=10.0, batch_size=32, cache=cache)
        for epoch in range(2 if cache else 1):
            start, count = time.perf_counter(), 0
            for x, _ in ds:
                count += int(x.shape[0])
            seconds = time.perf_counter() - start
            print(f"dataset_from_manifest cache={cache} epoch {epoch + 1}: {count / seconds:7.1f} clips/s")
    ds = dataset_from_manifest(manifest, sample_rate=32000, duration=10.0, batch_size=32)
    start, count = time.perf_counter(), 0
    for x, _ in ds:
        count += int(x.shape[0])
    print(f"dataset_from_manifest with 16->32 kHz resampling: {count / (time.perf_counter() - start):7.1f} clips/s")
    print(f"load average after: {os.getloadavg()}")
    shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
