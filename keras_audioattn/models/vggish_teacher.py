"""Old path of the Chang et al. 2020 teacher: see :mod:`keras_audioattn.models.chang2020`."""

from keras_audioattn.models.chang2020.chang2020_presets import paper_presets
from keras_audioattn.models.chang2020.vggish_teacher_model import PAPER_BLOCKS, POOLINGS, TimeMaxPooling, VGGishTeacher

#: Plain-dict views of the typed presets (keras_audioattn.models.chang2020.chang2020_presets).
PAPER_PRESETS = paper_presets("chang2020-teacher")

__all__ = ["PAPER_BLOCKS", "PAPER_PRESETS", "POOLINGS", "TimeMaxPooling", "VGGishTeacher"]
