"""Serving a run over HTTP: a JSON API and a draw-a-digit page."""
