"""Closed-loop MuJoCo worlds (each world is one module; import it directly, e.g. ``worlds.drone_room``)."""
