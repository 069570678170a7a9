"""Models of keras_audioattn: one module per paper model, paper configuration as defaults."""
