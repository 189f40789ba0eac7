"""Run folders: save, load, list."""
