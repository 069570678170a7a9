"""Export of keras_audioattn models: SavedModel for TF Serving and checked TFLite files."""
