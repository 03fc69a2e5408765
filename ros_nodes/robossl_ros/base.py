"""What every robossl node shares: typed parameters, input accounting, diagnostics, a clean close.

A node subclasses :class:`PipelineNode`, lists its parameters in ``SPECS``, converts messages with
:mod:`robossl_ros.conversions`, delegates learning to a ``robossl.pipelines`` object (``self.pipeline``:
start/stop learning, save/load, ``status()``), reports its own state in :meth:`status`, and saves its model
in :meth:`close` (called once on shutdown, also after Ctrl-C). The model plumbing every pipeline node
shares (``MODEL_SPECS``, load at start, ``~/save_model`` / ``~/load_model``, save on shutdown) lives here.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from robossl_ros.conversions import RejectedInput
from robossl_ros.diagnostics import DiagnosticsPublisher, InputMonitor, drop_reason
from robossl_ros.params import NodeParams, ParamSpec, in_range

DROP_LOG_PERIOD_S = 2.0  # a drop of one reason on one topic is logged at most this often [s]

COMMON_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "period of /diagnostics messages [s]",
        check=in_range(0.05, 60.0),
        read_only=True,
    ),
)


MODEL_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "checkpoint file ('' = no persistence)", read_only=True),
    ParamSpec("save_on_shutdown", True, "save the model to model_path on shutdown"),
)
"""The persistence parameters of a node with a model (list them in the node's ``SPECS``)."""


def deprioritise_threads(name: str, niceness: int = 10) -> int:
    """Raise the nice value of this process's threads called ``name`` to at least ``niceness`` (Linux; no-op
    elsewhere). Never lowers it: a trainer that yields to inference already runs at nice 19.

    Background learners use the same cores as the node's callbacks; at a lower priority the kernel runs
    the callbacks first when the CPU is contended, so online training does not add latency to the
    outputs. Returns how many threads were changed.
    """
    changed = 0
    for thread in threading.enumerate():
        native_id = getattr(thread, "native_id", None)
        if thread.name == name and native_id is not None and hasattr(os, "setpriority"):
            try:
                if os.getpriority(os.PRIO_PROCESS, native_id) >= niceness:
                    continue
                os.setpriority(os.PRIO_PROCESS, native_id, niceness)
                changed += 1
            except OSError:  # not permitted: leave the priority as it is
                pass
    return changed


class PipelineNode(Node):
    """Base class: declares ``COMMON_SPECS + SPECS``, owns an InputMonitor and a DiagnosticsPublisher.

    Args:
        node_name: default node name (a launch file or ``--ros-args -r __node:=`` may rename it).
        **kwargs: passed to ``rclpy.node.Node`` (e.g. ``parameter_overrides``, ``namespace``).

    Raises:
        robossl_ros.params.ParameterError: a start-up parameter value is invalid.
    """

    SPECS: Sequence[ParamSpec] = ()
    NO_PIPELINE = "no model exists yet"  # why save/load fail while ``pipeline`` is None (node-specific)

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.params = NodeParams(self, [*COMMON_SPECS, *self.SPECS], on_change=self.on_parameter_change)
        self.monitor = InputMonitor()
        self._drop_logged: dict[tuple[str, str], float] = {}  # (topic, reason) -> last logged [s]
        self._drop_log_lock = threading.Lock()
        self._closed = False
        self.pipeline: Any = None  # the robossl pipeline the node delegates to (None until it exists)
        declared = {spec.name for spec in self.SPECS}
        path = self.params["model_path"] if "model_path" in declared else ""
        self.model_path: Path | None = Path(path) if path else None
        # Own callback group: diagnostics keep flowing while a heavy input callback runs.
        self.diagnostics_group = MutuallyExclusiveCallbackGroup()
        self.diagnostics = DiagnosticsPublisher(
            self,
            self.monitor,
            self.status,
            period_s=self.params["diagnostics_period_s"],
            unknown_parameters=self.params.unknown_keys,
            callback_group=self.diagnostics_group,
            runtime=self.runtime_status,
        )

    def drop(self, topic: str, exc_or_reason: BaseException | str) -> None:
        """Count a dropped input and log it (throttled) with the reason (a :class:`RejectedInput` names its
        own; other exceptions are mapped by :func:`robossl_ros.diagnostics.drop_reason`)."""
        if isinstance(exc_or_reason, str):
            reason = exc_or_reason
        elif isinstance(exc_or_reason, RejectedInput):
            reason = exc_or_reason.reason
        else:
            reason = drop_reason(exc_or_reason)
        self.monitor.dropped(topic, reason)
        # Throttled per topic and reason: a flood of one kind of drop must not hide another kind.
        now = time.monotonic()
        with self._drop_log_lock:
            if now - self._drop_logged.get((topic, reason), -math.inf) < DROP_LOG_PERIOD_S:
                return
            self._drop_logged[(topic, reason)] = now
        detail = "" if isinstance(exc_or_reason, str) else f": {exc_or_reason}"
        self.get_logger().warning(f"dropped input on {topic} ({reason}){detail}")

    def log_info(self, text: str) -> None:
        """Log through ROS while its context is up, else to stderr (``close()`` runs after Ctrl-C shut it)."""
        if self.context.ok():
            self.get_logger().info(text)
        else:
            print(f"[INFO] [{self.get_name()}]: {text}", file=sys.stderr, flush=True)

    def status(self) -> dict[str, Any]:
        """The node's own diagnostic values (buffer fill, training steps, model version, mode, ...)."""
        return {}

    def runtime_status(self) -> dict[str, Any]:
        """Inference first, for every node: frame latency and learner rate from the pipeline's trainer.

        Keys (see robossl_ros.diagnostics): ``inference_frames``, ``inference_p50_ms``, ``inference_p99_ms``
        (processing of the newest 200 frames), ``inference_no_learning_ms`` (median of the frames no
        training step overlapped), ``frames_overlapped_by_learning``, ``learner_steps`` (trainer steps; terrain: rounds),
        ``learner_steps_per_s`` (last 10 s),
        ``learner_duty_cycle`` and ``learner_niceness``. Empty while the node has no pipeline.
        """
        trainer = getattr(self.pipeline, "trainer", None)
        if trainer is None:
            return {}
        load = trainer.inference
        p50, p99 = load.percentiles_s()
        values: dict[str, Any] = {
            "inference_frames": load.frames,
            "inference_p50_ms": p50 * 1e3,
            "inference_p99_ms": p99 * 1e3,
            "inference_no_learning_ms": load.baseline_s() * 1e3,
            "frames_overlapped_by_learning": load.overlapped_frames,
            "learner_steps": trainer.steps,  # trainer steps (terrain: learning rounds) since start
            "learner_steps_per_s": trainer.steps_per_s(),
            "learner_duty_cycle": trainer.budget.duty if trainer.yielding else trainer.config.cpu_fraction,
        }
        if trainer.niceness is not None:
            values["learner_niceness"] = trainer.niceness
        return values

    def on_parameter_change(self, name: str, value: Any) -> None:
        """Called after a run-time parameter change was accepted (override to react)."""

    def load_model_at_start(self, what: str = "model") -> None:
        """Load ``model_path`` into the pipeline when that file exists; a corrupt newest file gives way to
        its newest good older copy (:func:`robossl.online.checkpoint.load_latest_good`)."""
        if self.pipeline is not None and self.model_path is not None and self.model_path.is_file():
            used = self.pipeline.load(self.model_path, fall_back=True)
            self.log_info(f"loaded {what} from {used} ({self.pipeline.trainer.steps} steps)")

    def save(self) -> Path:
        """Save the pipeline's model (between two training steps) to ``model_path`` and return the path.

        Raises:
            ValueError: when there is nothing to save or nowhere to save it (the reason is the message).
        """
        if "model_path" not in {spec.name for spec in self.SPECS}:
            raise ValueError(f"{self.get_name()} has no model to save")
        if self.model_path is None:
            raise ValueError("model_path is empty; set the model_path parameter to save the model")
        if self.pipeline is None:
            raise ValueError(f"nothing to save: {self.NO_PIPELINE}")
        self.pipeline.save(self.model_path)
        return self.model_path

    def _srv_load(self, request: Any, response: Any) -> Any:
        """``~/load_model`` (std_srvs/Trigger): load ``model_path`` through the trainer's lock (a training
        step in progress finishes first), with the reason in the response on failure."""
        try:
            if self.model_path is None:
                raise ValueError("model_path is empty; set it to the checkpoint to load")
            if self.pipeline is None:
                raise ValueError(f"{self.NO_PIPELINE}; the model is loaded when the pipeline starts")
            self.pipeline.load(self.model_path)
            response.message, response.success = f"loaded {self.model_path}", True
        except (OSError, ValueError, KeyError) as exc:
            response.message, response.success = str(exc), False
        return response

    def stop_and_save(self) -> None:
        """Stop the pipeline's learning and, with ``save_on_shutdown``, save it (for :meth:`close`)."""
        if self.pipeline is None:
            return
        self.pipeline.stop_learning()
        if self.model_path is not None and self.params["save_on_shutdown"]:
            start = time.monotonic()
            path = self.save()
            self.log_info(f"saved model to {path} in {time.monotonic() - start:.2f} s")

    def _srv_save(self, request: Any, response: Any) -> Any:
        """``~/save_model`` (std_srvs/Trigger): :meth:`save`, with the reason in the response on failure."""
        try:
            response.message, response.success = f"saved {self.save()}", True
        except (OSError, ValueError) as exc:
            response.message, response.success = str(exc), False
        return response

    def close(self) -> None:
        """Stop background work and save state; idempotent. Subclasses call ``super().close()``."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed
