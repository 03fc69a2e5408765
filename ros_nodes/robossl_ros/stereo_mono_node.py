"""``stereo_mono_node``: persistent self-supervised stereo -> monocular depth (van Hecke et al. 2018).

Subscribes (sensor-data QoS): ``left/image_raw``, ``right/image_raw`` (sensor_msgs/Image, mono8 / rgb8 /
bgr8 / ...), ``left/camera_info``, ``right/camera_info`` (sensor_msgs/CameraInfo). Left and right images are
paired by nearest stamp within ``pair_tolerance_s``.

Publishes, stamped with the left image's stamp and frame:
    ``stereo/disparity``  stereo_msgs/DisparityImage (32FC1 pixels; invalid = min_disparity - 1)
    ``mono/depth``        sensor_msgs/Image 32FC1, metres, the student's prediction at the rectified size
    ``distance``          sensor_msgs/Range, the active distance estimate ahead (stereo or mono), metres
    ``mode``              std_msgs/String "stereo" / "mono" (reliable, transient local: latched), published
                          when it changes, before that frame's other outputs
Services: ``~/save_model`` and ``~/load_model`` (std_srvs/Trigger) on ``model_path``; the model is loaded at
start when the file exists and saved on shutdown.

Bad CameraInfos are dropped as ``bad_calibration`` (:mod:`robossl_ros.stereo_camera_infos`); until a valid
pair has arrived, image pairs are dropped as ``bad_calibration`` (or ``no_camera_info`` when none arrived at
all). Each pair is processed with the CameraInfos that were current when it formed.

Learning runs in a background thread within ``cpu_fraction``, or lock-step (``train_steps_per_input`` > 0:
each pair's steps are trained before the next pair, the same learning per frame on any machine).

The node converts and delegates: rectification, SGBM teacher, student (PyTorch or ONNX Runtime), replay,
background trainer and switching policy are :class:`robossl.pipelines.stereo_mono.pipeline.StereoMonoPipeline`,
created when both CameraInfos have arrived (its geometry is rebuilt if the calibration changes). Parameters:
:mod:`robossl_ros.stereo_mono_params`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import torch
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from sensor_msgs.msg import CameraInfo, Image, Range
from std_msgs.msg import String
from std_srvs.srv import Trigger
from stereo_msgs.msg import DisparityImage

from robossl.online import QualityEstimate
from robossl.pipelines.stereo_mono.calibration import StereoCalibration
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline
from robossl.pipelines.stereo_mono.switching import FlightMode
from robossl_ros.base import PipelineNode, deprioritise_threads
from robossl_ros.conversions import RejectedInput, grey8, image_array
from robossl_ros.message_builders import stereo_mono_outputs
from robossl_ros.pairing import ApproximatePairer
from robossl_ros.qos import RESULT_QOS, SENSOR_QOS, STATUS_QOS
from robossl_ros.runtime import node_main
from robossl_ros.stereo_camera_infos import StereoCameraInfos, check_pair_size
from robossl_ros.stereo_mono_params import SPECS, pipeline_config  # SPECS: re-exported for its users
from robossl_ros.worker import LatestWorker

LOCKSTEP_TIMEOUT_S = 120.0  # lock-step: longest wait for one pair's training steps before moving on


class StereoMonoNode(PipelineNode):
    """See module docstring."""

    SPECS = SPECS
    NO_PIPELINE = "no CameraInfo pair has arrived yet, so no model exists"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("stereo_mono_node", **kwargs)
        p = self.params
        torch.set_num_threads(1)
        self.config = pipeline_config(p)
        self.pipeline: StereoMonoPipeline | None = None
        self._last_mode = ""
        self.frames_processed = 0
        self._timing = QualityEstimate(0.05)  # smoothed processing time per pair [ms]
        self.topics = {side: p[f"{side}_image_topic"] for side in ("left", "right")}
        self.cameras = StereoCameraInfos({side: p[f"{side}_info_topic"] for side in ("left", "right")})
        self.pairer = ApproximatePairer(int(p["pair_tolerance_s"] * 1e9))
        self.worker = LatestWorker(
            "stereo-mono", self._process, p["queue_depth"], self._on_discard, self._on_error
        )
        inputs = ReentrantCallbackGroup()
        for side in ("left", "right"):
            on_image, on_info = partial(self._on_image, side), partial(self._on_info, side)
            self.create_subscription(Image, self.topics[side], on_image, SENSOR_QOS, callback_group=inputs)
            info_topic = self.cameras.topics[side]
            self.create_subscription(CameraInfo, info_topic, on_info, SENSOR_QOS, callback_group=inputs)
        self.pub_disparity = self.create_publisher(DisparityImage, "stereo/disparity", RESULT_QOS)
        self.pub_depth = self.create_publisher(Image, "mono/depth", RESULT_QOS)
        self.pub_distance = self.create_publisher(Range, "distance", RESULT_QOS)
        self.pub_mode = self.create_publisher(String, "mode", STATUS_QOS)
        self.pub_mode.publish(String(data=FlightMode.STEREO.value if p["policy"] != "mono_only" else "mono"))
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "~/save_model", self._srv_save, callback_group=services)
        self.create_service(Trigger, "~/load_model", self._srv_load, callback_group=services)

    def on_parameter_change(self, name: str, value: Any) -> None:
        if name == "pair_tolerance_s":
            self.pairer.tolerance_ns = int(value * 1e9)
        elif name == "learning" and self.pipeline is not None:
            self._start_learning() if value else self.pipeline.stop_learning()
        elif name == "min_confident_fraction":
            self.config.min_confident_fraction = value  # the pipeline reads its config every frame

    def _start_learning(self) -> None:
        assert self.pipeline is not None
        self.pipeline.start_learning()
        deprioritise_threads("robossl-trainer")  # inference first when the CPU is contended

    # -- inputs ------------------------------------------------------------------------------------------
    def _on_info(self, side: str, msg: CameraInfo) -> None:
        topic = self.cameras.topics[side]
        self.monitor.received(topic)
        rejected = self.cameras.add(side, msg)
        if rejected is not None and rejected[1]:  # a new problem is logged at once, unthrottled
            self.get_logger().warning(f"dropped input on {topic} ({rejected[0].reason}): {rejected[0]}")
            self.monitor.dropped(topic, rejected[0].reason)
        elif rejected is not None:
            self.drop(topic, rejected[0])

    def _on_image(self, side: str, msg: Image) -> None:
        topic = self.topics[side]
        self.monitor.received(topic)
        try:
            stamp_ns, array = image_array(msg, topic)
            grey = grey8(array, msg.encoding)
        except ValueError as exc:
            self.drop(topic, exc)
            return
        if not self.monitor.accept_stamp(topic, stamp_ns):
            return
        result = self.pairer.add(side, stamp_ns, (stamp_ns, msg.header.frame_id, msg.encoding, grey))
        for unpaired_side, count in result.unpaired.items():
            for _ in range(count):
                self.drop(self.topics[unpaired_side], "unpaired")
        if result.pair is not None:  # the CameraInfos current now, not when the worker gets to the pair
            self.worker.submit((result.pair, self.cameras.snapshot()))

    def _on_discard(self, pair: Any) -> None:
        self.drop(self.topics["left"], "queue_full")

    def _on_error(self, pair: Any, exc: BaseException) -> None:
        self.drop(self.topics["left"], exc)

    # -- processing --------------------------------------------------------------------------------------
    def _use_calibration(self, calibration: StereoCalibration) -> None:
        """The first valid CameraInfo pair creates the pipeline; a changed one gives it new geometry."""
        if self.pipeline is None:
            self.pipeline = StereoMonoPipeline(self.config, calibration)
        else:  # new calibration: new geometry, same learner
            self.pipeline.set_calibration(calibration)
            self.log_info("calibration changed: rectification and stereo geometry rebuilt")

    def _process(self, job: Any) -> None:
        pair, infos = job
        (stamp_ns, frame_id, _, left), (_, _, _, right) = pair
        topic = self.topics["left"]
        created = self.pipeline is None
        try:
            self.cameras.apply(infos, self._use_calibration)
            assert self.pipeline is not None
            if created:
                self.load_model_at_start()
                if self.params["learning"]:
                    self._start_learning()
            check_pair_size(left, right, self.pipeline.calibration.image_size, topic)
        except LookupError:
            self.drop(topic, "no_camera_info")
            return
        except RejectedInput as exc:
            self.drop(topic, exc)
            return
        pipeline, started = self.pipeline, time.perf_counter()
        out = pipeline.process(left, right, stamp_ns * 1e-9)
        lockstep = pipeline.grant_steps()  # lock-step: this pair's steps train while its outputs go out
        if out.mode.value != self._last_mode:  # before the outputs: a reader of this frame sees its mode
            self._last_mode = out.mode.value
            self.pub_mode.publish(String(data=out.mode.value))
        disparity, depth, distance = stereo_mono_outputs(out, self.config, pipeline, stamp_ns, frame_id)
        self.pub_disparity.publish(disparity)
        self.pub_depth.publish(depth)
        self.pub_distance.publish(distance)
        self.frames_processed += 1
        self._timing.update((time.perf_counter() - started) * 1e3)
        if lockstep and not pipeline.trainer.wait_until_trained(LOCKSTEP_TIMEOUT_S):
            self.get_logger().warning(
                f"train_steps_per_input: {pipeline.trainer.pending_steps} granted steps still untrained after "
                f"{LOCKSTEP_TIMEOUT_S:.0f} s; the next pair is processed anyway (the trainer is too slow for "
                "this machine's load; lower train_steps_per_input)",
                throttle_duration_sec=30.0,
            )

    # -- status ------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "frames_processed": self.frames_processed,
            "processing_ms": self._timing.value,
        }
        if self.pipeline is None:
            values.update({"mode": "waiting_for_camera_info", "training_steps": 0, "model_version": 0})
            return values
        values.update(self.pipeline.status())
        trainer_error = values.pop("trainer_error", "")
        if trainer_error and not self.closed:
            values["error"] = f"trainer stopped: {trainer_error}"
        return values

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self.worker.stop()
        self.stop_and_save()


def main(args: list[str] | None = None) -> int:
    return node_main("stereo_mono_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
