"""Old path of the Jung et al. 2020 ASC network: see :mod:`keras_audioattn.models.jung2020`."""

from keras_audioattn.models.jung2020.raw_waveform_asc_model import (DEFAULT_PARAMETER_COUNT, PAPER_BLOCK_FILTERS,
                                                                   RawWaveformASC)

__all__ = ["DEFAULT_PARAMETER_COUNT", "PAPER_BLOCK_FILTERS", "RawWaveformASC"]
