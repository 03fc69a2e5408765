"""robossl's simulator: log replay engine and closed-loop MuJoCo worlds."""
