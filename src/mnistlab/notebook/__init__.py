"""Jupyter: rich displays of mnistlab's objects, and runs written out as notebooks."""
