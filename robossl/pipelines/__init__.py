"""Learning logic of the three online pipelines: stereo_mono, terrain, collossl."""
