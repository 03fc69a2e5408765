"""The sections of bench/reliability.py (issue 23), one module each; see that script's docstring."""
