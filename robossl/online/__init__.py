"""Persistent-learner runtime: replay buffer, background trainer, atomic checkpoints, hot swap, monitors."""
