"""`robossl <verb>`: one verb per module in this package (see main.py)."""
