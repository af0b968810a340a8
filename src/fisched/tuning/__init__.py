"""Tuning: tune and collect into a workdir, reuse known schedules, validate, compile, measure, report."""
