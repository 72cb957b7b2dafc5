"""Calcifer: no change without a work item, no completion without documentation, everything in git."""

__version__ = "0.1.0"
