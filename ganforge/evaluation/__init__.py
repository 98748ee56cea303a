"""Measuring colorizations: metrics, evaluating checkpoints or any tool's folders, comparison reports,
the Turing test, model cards."""
