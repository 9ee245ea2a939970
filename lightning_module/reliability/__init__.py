"""Reliability tooling: fuzz inputs for every photo path, and a probe that measures one decode in isolation.

Nothing here is used by training or the dashboard at run time; tests, benchmarks and the reliability report
(``python -m lightning_module.reliability``) use it.
"""
