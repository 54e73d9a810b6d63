"""Benchmark protocols: OTB one-pass evaluation (and its got10k variant)."""

from rlattn.evaluation.otb import aggregate, evaluate_sequence, precision_curve, sequence_errors, success_curve

__all__ = ["aggregate", "evaluate_sequence", "precision_curve", "sequence_errors", "success_curve"]
