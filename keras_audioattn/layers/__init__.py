"""Keras layers of keras_audioattn (keras.ops only, backend-agnostic)."""
