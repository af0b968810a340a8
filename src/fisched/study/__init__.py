"""The study harness: offline evaluation, the whole-model experiment, plots."""
