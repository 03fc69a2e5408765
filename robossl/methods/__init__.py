"""Methods: backbone + heads + objective + views, composed and registered by name."""
