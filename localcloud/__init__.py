"""Emulated AWS pieces that moto lacks, plus simulated time, for local tests of the pipeline."""

from localcloud.clock import SimClock

__all__ = ["SimClock"]
