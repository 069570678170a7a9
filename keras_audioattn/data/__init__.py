"""Audio input: decoding, manifests to tf.data, remixing events over scenes, synthetic corpus."""
