"""Beta schedules (:mod:`.schedule`) and the per-step coefficient tables the fused step reads
(:mod:`.step_table`; float64, numpy only)."""

from .schedule import SCHEDULE_NAMES, Schedule
from .step_table import (StepCoef, StepIndexError, StepTable, build_table, respace_timesteps,
                         table_from_alphas)

__all__ = ["SCHEDULE_NAMES", "Schedule", "StepCoef", "StepIndexError", "StepTable", "build_table",
           "respace_timesteps", "table_from_alphas"]
