"""Sweeps: a grid of training runs (configurations x seeds) executed as Ray tasks, locally or on a
cluster, resumable, with one results table.

``spec`` expands a sweep file into trials, ``trial`` runs one trial inside a Ray worker, ``runner``
schedules them and keeps their states, ``results`` gathers the trials' run folders into
``results.parquet``/``.csv`` and a per-configuration summary over seeds.
"""
