"""Celery workers, beat and the embedded runner: thin adapters over reconciler.pipeline."""
