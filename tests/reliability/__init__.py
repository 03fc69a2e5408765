"""Regression tests for the defects found by the independent fault suite (issue 23)."""
