"""Projection and prediction heads."""
