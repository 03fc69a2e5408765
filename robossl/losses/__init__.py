"""Self-supervised objectives: one per file, each a pure function plus an nn.Module wrapper."""
