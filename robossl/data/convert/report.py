"""What a converter wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ConvertReport:
    """Summary of one conversion."""

    outputs: list[Path] = field(default_factory=list)  # bag folders written
    counts: dict[str, int] = field(default_factory=dict)  # topic -> messages written (summed over outputs)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> samples skipped

    def add_counts(self, counts: dict[str, int]) -> None:
        """Add one bag's per-topic counts."""
        for topic, n in counts.items():
            self.counts[topic] = self.counts.get(topic, 0) + n

    def summary(self) -> str:
        """One line per topic, for the CLI."""
        lines = [f"wrote {len(self.outputs)} bag(s): " + ", ".join(str(p) for p in self.outputs)]
        lines += [f"  {topic}: {n} messages" for topic, n in sorted(self.counts.items())]
        lines += [f"  dropped ({reason}): {n}" for reason, n in sorted(self.dropped.items()) if n]
        return "\n".join(lines)
