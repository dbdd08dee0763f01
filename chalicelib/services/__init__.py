"""The service layer: the task life cycle, queueing, claims, counters, files.

Plain functions over plain values that raise domain errors (:mod:`chalicelib.errors`).
"""
