"""Where the activity stage's IMU data comes from: the live stream (an ActRecTut "walk" excerpt of subject 1
that shows every activity in every pass, :func:`make_stream`) and the unlabelled logs pretraining learns from
(the other subject, :func:`log_streams`); synthetic streams (:mod:`robossl_sim.har_synth`) of seeds that do
not overlap when the real data is absent.
"""

from __future__ import annotations

import numpy as np

from robossl_ros.demo.har_config import HarStageConfig, HarStream

LIVE_SUBJECT = 1  # the live stage replays this ActRecTut subject ...
LOG_SUBJECT = 2  # ... and pretraining reads only the other one's logs
SYNTHETIC_LOG_SEED = 10_000  # without real data: the logs are a synthetic stream no live seed uses
SYNTHETIC_LOG_SECONDS = 600.0  # length of that synthetic log, seconds


def excerpt_indices(labels: np.ndarray, take: int, needed: int, seed: int) -> np.ndarray:
    """Row indices of a replay excerpt that shows every activity in every pass.

    Each pass takes ``take`` samples of each non-NULL activity (in a seeded order), each time from another
    contiguous segment of that activity when it has several, until ``needed`` samples are reached. With the
    demo's defaults (3 s per activity, 5 activities, a 60 s stream labelled for its first half) the
    labelled half holds two passes and the scored half two more over other segments: every activity the
    classifier is scored on was labelled, and no scored sample was seen with its label (an activity with
    fewer segments than passes, ActRecTut's sitting with 2 long bouts, is scored on other parts of them).
    """
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    rng = np.random.default_rng(seed)
    segments: dict[int, list[int]] = {}
    for k in rng.permutation(len(starts)):
        if labels[starts[k]] != 0 and ends[k] - starts[k] >= take // 2:
            segments.setdefault(int(labels[starts[k]]), []).append(int(k))
    if not segments:
        raise ValueError("no activity segment is long enough for the excerpt; lower segment_s")
    classes = [int(c) for c in rng.permutation(sorted(segments))]
    pieces: list[np.ndarray] = []
    total, turn = 0, 0
    while total < needed:
        for c in classes:
            k = segments[c][turn % len(segments[c])]
            offset = starts[k] + int(rng.integers(0, max(1, ends[k] - starts[k] - take)))
            pieces.append(np.arange(offset, min(offset + take, ends[k])))
            total += len(pieces[-1])
        turn += 1
    return np.concatenate(pieces)[:needed]


def make_stream(config: HarStageConfig) -> HarStream:
    """ActRecTut walk (real) excerpt of subject 1 cycling through all activities (:func:`excerpt_indices`), or
    a synthetic stream without data."""
    if has_actrectut():
        from robossl.data.datasets.actrectut import load_actrectut

        recording = load_actrectut(LIVE_SUBJECT, "walk", channels_per_imu=6)
        rate = float(recording.sample_rate_hz)
        labels = np.asarray(recording.labels)
        index = excerpt_indices(
            labels, int(config.segment_s * rate), int(config.stream_seconds * rate), config.seed
        )
        streams = {name: np.asarray(a)[index] for name, a in recording.devices.items()}
        return HarStream(
            streams,
            labels[index],
            rate,
            tuple(recording.class_names),
            f"ActRecTut walk, subject {LIVE_SUBJECT}",
        )
    from robossl_sim.har_synth import synthetic_har

    synthetic = synthetic_har(config.stream_seconds, seed=config.seed)
    return HarStream(
        synthetic.streams, synthetic.labels, synthetic.rate_hz, synthetic.class_names, "synthetic"
    )


def has_actrectut() -> bool:
    from robossl.data import data_root

    root = data_root()
    return root is not None and (root / "har" / "actrectut").is_dir()


def log_streams(seconds: float) -> tuple[dict[str, np.ndarray], float, str]:
    """The logs pretraining learns from (the first ``seconds``, 0 = all): ActRecTut walk of the subject the
    live stage does not replay (unlabelled), or a long synthetic stream of a seed no live stage uses."""
    if has_actrectut():
        from robossl.data.datasets.actrectut import load_actrectut

        recording = load_actrectut(LOG_SUBJECT, "walk", channels_per_imu=6)
        rate = float(recording.sample_rate_hz)
        rows = int(seconds * rate) if seconds > 0 else len(recording.labels)
        streams = {name: np.asarray(a[:rows], np.float32) for name, a in recording.devices.items()}
        return streams, rate, f"ActRecTut walk, subject {LOG_SUBJECT}"
    from robossl_sim.har_synth import synthetic_har

    synthetic = synthetic_har(seconds if seconds > 0 else SYNTHETIC_LOG_SECONDS, seed=SYNTHETIC_LOG_SEED)
    return synthetic.streams, synthetic.rate_hz, f"synthetic, seed {SYNTHETIC_LOG_SEED}"
