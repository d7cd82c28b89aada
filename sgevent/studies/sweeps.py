"""The studies over many trained models under their former module name (kept for existing imports).

The resolution study is :mod:`sgevent.studies.resolution`, the sparsity sweep
:mod:`sgevent.studies.sparsity`, and what they share :mod:`sgevent.studies.study_runs`; this
module only re-exports their public names. New code imports them from there.
"""

from sgevent.studies.resolution import (
    PROBE_STEPS,
    engine_state_bytes,
    format_resolution_table,
    reference_state_bytes,
    resolution_study,
)
from sgevent.studies.sparsity import format_sweep_table, sparsity_sweep
from sgevent.studies.study_runs import (
    DEFAULT_DTS,
    QUICK_OVERRIDES,
    STUDY_CONFIG,
    STUDY_SIZES,
    study_config,
    time_model_label,
)

__all__ = [
    "resolution_study", "sparsity_sweep", "engine_state_bytes", "reference_state_bytes",
    "time_model_label", "format_resolution_table", "format_sweep_table", "study_config",
    "DEFAULT_DTS", "PROBE_STEPS", "STUDY_CONFIG", "QUICK_OVERRIDES", "STUDY_SIZES",
]
