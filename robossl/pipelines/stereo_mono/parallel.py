"""Several stereo frames in flight at once, for log replay and offline retraining at many times real time.

The expensive per-frame work (rectification, SGBM, student inference) reads no pipeline state, and OpenCV
and ONNX Runtime release the GIL while they run, so :class:`ParallelFrames` perceives up to ``workers``
frames concurrently in threads and applies :meth:`StereoMonoPipeline.update` (quality estimate, replay
buffer, switching policy) strictly in submission order. Outputs are identical to calling ``process`` frame
by frame, except that a frame perceived while the model is hot-swapped may use the previous version.

On a robot the camera paces the pipeline and one frame at a time is right; use this where frames come
faster than one core can take them (a bag replayed as fast as possible)::

    with ParallelFrames(pipeline, workers=2) as frames:
        for left, right, stamp in pairs:
            for out in frames.submit(left, right, stamp):
                use(out)
        for out in frames.flush():
            use(out)
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import numpy as np

from robossl.pipelines.stereo_mono.pipeline import Perception, StereoMonoOutput, StereoMonoPipeline


class ParallelFrames:
    """Ordered, bounded multi-frame executor around one :class:`StereoMonoPipeline`.

    Args:
        pipeline: the pipeline whose state ``update`` advances.
        workers: frames perceived concurrently (threads); 1 = sequential, like ``process``.
        in_flight: frames submitted but not yet updated before ``submit`` waits (default ``2 * workers``).

    Frames that fail validation (wrong size, NaN pixels, bad layout) are dropped and counted in
    ``dropped``; ``last_error`` holds the newest message. The pipeline's state is never touched by them.
    """

    def __init__(self, pipeline: StereoMonoPipeline, workers: int = 2, in_flight: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.pipeline = pipeline
        self.workers = workers
        self.in_flight = in_flight if in_flight is not None else 2 * workers
        if self.in_flight < workers:
            raise ValueError(f"in_flight ({self.in_flight}) must be >= workers ({workers})")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stereo_mono_perceive")
        self._pending: deque[tuple[Future[Perception], float]] = deque()
        self.dropped = 0  # frames rejected by validation
        self.last_error = ""  # message of the newest rejected frame

    def submit(self, left: np.ndarray, right: np.ndarray, stamp: float) -> list[StereoMonoOutput]:
        """Queue a raw pair captured at ``stamp`` seconds; returns the outputs that completed, in order."""
        self._pending.append((self._pool.submit(self.pipeline.perceive, left, right), stamp))
        ready = []
        while self._pending and (len(self._pending) > self.in_flight or self._pending[0][0].done()):
            output = self._finish_oldest()
            if output is not None:
                ready.append(output)
        return ready

    def flush(self) -> list[StereoMonoOutput]:
        """Wait for every queued frame; returns their outputs in order."""
        outputs = []
        while self._pending:
            output = self._finish_oldest()
            if output is not None:
                outputs.append(output)
        return outputs

    def _finish_oldest(self) -> StereoMonoOutput | None:
        future, stamp = self._pending.popleft()
        try:
            perception = future.result()
        except ValueError as error:
            self.dropped += 1
            self.last_error = str(error)
            return None
        return self.pipeline.update(perception, stamp)

    def close(self) -> None:
        """Finish queued frames (their outputs are discarded) and stop the worker threads."""
        self.flush()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ParallelFrames:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:  # do not run more frames through a pipeline that is failing
            for future, _ in self._pending:
                future.cancel()
            self._pending.clear()
        self.close()
