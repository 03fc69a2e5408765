"""The main job (`robossl demo`): all three pipelines live in simulation, recorded, with an HTML report."""
