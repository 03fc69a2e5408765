"""``har_node``: multi-device human activity recognition learned online with ColloSSL (Jain et al. 2022).

Subscribes (sensor-data QoS) to one sensor_msgs/Imu topic per body-worn device (``imu_topics``, named by
``device_names``), and optionally ``activity/label_in`` (std_msgs/String, a class name that holds from the
moment it arrives: a few labels are enough for the classifier head). That moment is taken on the samples'
clock, as the stamp of the newest anchor sample received when the label arrives (not the host's wall
clock, which a replayed or re-stamped stream does not follow); a label before any anchor sample is dropped
as ``no_sample_yet``.

Every ``predict_every_s`` of anchor-device time it publishes, for the window of the last ``window_s``:

    ``activity``            std_msgs/String, the predicted class name ("unknown" without a classifier)
    ``activity/scores``     std_msgs/Float32MultiArray, class probabilities (K,)
    ``activity/embedding``  std_msgs/Float32MultiArray, the encoder embedding (F,)

The two arrays carry the stamp of the newest anchor sample in ``layout.dim[0].label`` as
``"<name>;stamp_ns=<T>"`` (the same convention as robossl audio, docs/logs.md), because std_msgs arrays
have no header.

Each device needs its own topic (a topic listed twice stops the node at start). When no training step
happens for ``training_stall_warning_s``, the node says why in the log and as a WARN ``warning`` in
/diagnostics: a starved device (no usable sample), windows rejected for gaps, too few windows yet, or a
stopped trainer.

Learning (windows aligned across devices, MMD device selection, contrastive steps, the background trainer)
and inference with the hot-swapped model are :class:`robossl.pipelines.collossl.pipeline.ColloSSLPipeline`;
the node converts messages, validates and delegates.

Learning budget: by default (``train_steps_per_window`` 0) the trainer runs freely within
``cpu_fraction``, so how much it learns before a given prediction depends on the CPU. With
``train_steps_per_window`` N > 0 it is lock-step: the inputs go, in arrival order, through one input thread
that grants N steps for every aligned window that forms and waits for them before it takes the next input
(and before it predicts), so every prediction comes from a model trained exactly N steps per window seen,
on any machine; a slow machine only answers later (``input_backlog`` in /diagnostics).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
from sensor_msgs.msg import Imu
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from robossl.pipelines.collossl.pipeline import ColloSSLPipeline
from robossl_ros.base import PipelineNode, deprioritise_threads
from robossl_ros.conversions import (  # noqa: F401  (array helpers re-exported for their users)
    ArrayLabelError,
    array_msg,
    array_stamp_ns,
    imu_sample,
)
from robossl_ros.har_params import SPECS, pipeline_configs
from robossl_ros.ordered_inputs import OrderedInputs
from robossl_ros.qos import HIGH_RATE_SENSOR_QOS, RESULT_QOS
from robossl_ros.runtime import node_main
from robossl_ros.training_stall import TrainingStallWatch


class HarNode(PipelineNode):
    """See module docstring."""

    SPECS = SPECS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("har_node", **kwargs)
        p = self.params
        topics, names = list(p["imu_topics"]), list(p["device_names"])
        if len(topics) != len(names) or len(set(names)) != len(names) or len(names) < 2:
            raise ValueError(
                f"need >= 2 distinct device_names, one per imu_topics entry; got {names} for {topics}"
            )
        resolved = [self.resolve_topic_name(topic) for topic in topics]
        repeated = sorted({t for t in resolved if resolved.count(t) > 1})
        if repeated:
            raise ValueError(
                f"imu_topics {topics} name the same topic {repeated} for several devices; each device "
                "needs its own Imu topic (aligned windows of one stream seen twice teach nothing)"
            )
        torch.set_num_threads(1)
        self.class_names = list(p["class_names"])
        self.config, trainer = pipeline_configs(p)
        self.pipeline = ColloSSLPipeline(self.config, trainer)
        self.load_model_at_start()
        self.topic_of = dict(zip(names, topics))
        self.anchor = p["anchor_device"]
        self._next_prediction_s: float | None = None
        self._newest_anchor_s: float | None = None  # stamp of the newest anchor sample received (labels)
        self.predictions = 0
        self.pub_activity = self.create_publisher(String, "activity", RESULT_QOS)
        self.pub_scores = self.create_publisher(Float32MultiArray, "activity/scores", RESULT_QOS)
        self.pub_embedding = self.create_publisher(Float32MultiArray, "activity/embedding", RESULT_QOS)
        for name, topic in self.topic_of.items():
            self.create_subscription(Imu, topic, partial(self._on_imu, name), HIGH_RATE_SENSOR_QOS)
        self.create_subscription(String, "activity/label_in", self._on_label, RESULT_QOS)
        self.create_service(Trigger, "~/save_model", self._srv_save)
        self.stall = TrainingStallWatch(self.pipeline, self.topic_of, self.monitor.dropped_counts)
        self.create_timer(0.5, self._check_training_progress)
        self.pipeline.start_learning()
        deprioritise_threads("robossl-trainer")
        # Lock-step: accepted inputs are handled in arrival order by one input thread.
        self.inputs = OrderedInputs(self._handle, self.pipeline.trainer.lockstep, "har-inputs")

    # -- inputs ------------------------------------------------------------------------------------------
    def _on_imu(self, device: str, msg: Imu) -> None:
        topic = self.topic_of[device]
        self.monitor.received(topic)
        try:
            sample = imu_sample(msg)
        except ValueError as exc:
            self.drop(topic, exc)
            return
        if not self.monitor.accept_stamp(topic, sample.stamp_ns):
            return
        self.stall.sample(device)
        # ColloSSL channel order: accelerometer first.
        values = np.concatenate([sample.linear_acceleration, sample.angular_velocity]).astype(np.float32)
        if device == self.anchor:
            self._newest_anchor_s = sample.stamp_ns * 1e-9
        self.inputs.submit(("sample", device, sample.stamp_ns, values))

    def _on_label(self, msg: String) -> None:
        if msg.data not in self.class_names:
            self.drop("activity/label_in", "unknown_class")
            return
        if self._newest_anchor_s is None:
            self.drop("activity/label_in", "no_sample_yet")
            return
        self.inputs.submit(("label", self._newest_anchor_s, self.class_names.index(msg.data)))

    def _handle(self, item: tuple[Any, ...]) -> None:
        """Learn from one input: a sample (windows, lock-step training, prediction) or a label."""
        if item[0] == "label":
            self.pipeline.add_labels(np.array([item[1]]), np.array([item[2]]))
            return
        _, device, stamp_ns, values = item
        self.pipeline.add_samples(device, np.array([stamp_ns * 1e-9]), values[None])  # lock-step: trains
        if device == self.anchor:
            self._maybe_predict(stamp_ns)

    # -- inference ---------------------------------------------------------------------------------------
    def _maybe_predict(self, stamp_ns: int) -> None:
        stamp_s = stamp_ns * 1e-9
        if self._next_prediction_s is None:
            self._next_prediction_s = stamp_s + self.config.window_s  # the first full window
        if stamp_s < self._next_prediction_s:
            return
        prediction = self.pipeline.predict_at(stamp_s)
        if prediction is None:  # the anchor samples do not cover the window yet
            return
        self._next_prediction_s = max(self._next_prediction_s + self.params["predict_every_s"], stamp_s)
        name = self.class_names[prediction.class_id] if prediction.scores.size else "unknown"
        self.pub_embedding.publish(array_msg(prediction.embedding, "embedding", stamp_ns))
        self.pub_scores.publish(array_msg(prediction.scores, "classes", stamp_ns))
        self.pub_activity.publish(String(data=name))
        self.predictions += 1

    def _check_training_progress(self) -> None:
        """Warn (log and diagnostics) when no training step happened for ``training_stall_warning_s``."""
        event = self.stall.check(self.params["training_stall_warning_s"])
        if event is not None:
            level, text = event
            (self.get_logger().warning if level == "warning" else self.get_logger().info)(text)

    # -- persistence and status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        values = self.pipeline.status()
        trainer_error = values.pop("trainer_error", "")
        values["predictions"] = self.predictions
        if self.inputs.threaded:
            values["input_backlog"] = self.inputs.backlog
        if self.stall.message:
            values["warning"] = self.stall.message
        if trainer_error and not self.closed:
            values["error"] = f"trainer stopped: {trainer_error}"
        return values

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        backlog = self.inputs.close(timeout=10.0)
        if backlog:
            self.log_info(f"stopped with {backlog} inputs not yet learnt from (lock-step backlog)")
        self.stop_and_save()


def main(args: list[str] | None = None) -> int:
    return node_main("har_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
