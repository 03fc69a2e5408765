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

A CameraInfo with NaN/inf, a focal length that is not positive or (right camera) no positive baseline is
dropped as ``bad_calibration`` and the last valid one stays in use; until a valid pair has arrived, image
pairs are dropped as ``bad_calibration`` (or ``no_camera_info`` when none arrived at all). Each pair is
processed with the CameraInfos that were current when it formed.

Learning runs in a background thread limited by ``cpu_fraction`` (robots), or lock-step with
``train_steps_per_input`` > 0: each processed pair grants that many training steps, and the next pair is
processed only after they are trained. A closed loop that waits for each frame's ``distance`` then learns
the same amount per frame on a fast and a slow machine (the simulated demo).

The node converts and delegates: rectification, SGBM teacher, student (PyTorch or ONNX Runtime), replay,
background trainer and switching policy are :class:`robossl.pipelines.stereo_mono.pipeline.StereoMonoPipeline`,
created when both CameraInfos have arrived (its geometry is rebuilt if the calibration changes).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import numpy as np
import torch
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from sensor_msgs.msg import CameraInfo, Image, Range
from std_msgs.msg import String
from std_srvs.srv import Trigger
from stereo_msgs.msg import DisparityImage

from robossl.online import QualityEstimate
from robossl.pipelines.stereo_mono.calibration import StereoCalibration
from robossl.pipelines.stereo_mono.config import StereoMonoConfig
from robossl.pipelines.stereo_mono.pipeline import StereoMonoPipeline
from robossl.pipelines.stereo_mono.switching import POLICIES, FlightMode
from robossl_ros.base import MODEL_SPECS, PipelineNode, deprioritise_threads
from robossl_ros.conversions import (  # noqa: F401  (grey8 re-exported for its users)
    RejectedInput,
    camera_model,
    disparity_image_msg,
    grey8,
    image_array,
    image_msg,
    range_msg,
)
from robossl_ros.pairing import ApproximatePairer
from robossl_ros.params import (
    ParamSpec,
    config_param,
    config_values,
    in_range,
    non_empty,
    non_negative,
    one_of,
    positive,
)
from robossl_ros.qos import RESULT_QOS, SENSOR_QOS, STATUS_QOS
from robossl_ros.runtime import node_main
from robossl_ros.worker import LatestWorker

LOCKSTEP_TIMEOUT_S = 120.0  # lock-step: longest wait for one pair's training steps before moving on


def _multiple_of(n: int):  # type: ignore[no-untyped-def]
    return lambda v: None if v > 0 and v % n == 0 else f"must be a positive multiple of {n}, got {v}"


C = StereoMonoConfig  # parameters that configure the pipeline take its defaults (one source)

SPECS = [
    ParamSpec("left_image_topic", "left/image_raw", "left camera image", check=non_empty, read_only=True),
    ParamSpec("right_image_topic", "right/image_raw", "right camera image", check=non_empty, read_only=True),
    ParamSpec("left_info_topic", "left/camera_info", "left CameraInfo", check=non_empty, read_only=True),
    ParamSpec("right_info_topic", "right/camera_info", "right CameraInfo", check=non_empty, read_only=True),
    ParamSpec(
        "pair_tolerance_s", 0.005, "largest left/right stamp difference of a pair [s]", in_range(0.0, 1.0)
    ),
    config_param(
        C, "rectified_width", "rectified width [px], height keeps the aspect (0 = raw)", non_negative, True
    ),
    config_param(
        C, "student.input_width", "student input width [px]", _multiple_of(32), True, "student_width"
    ),
    config_param(
        C, "student.input_height", "student input height [px]", _multiple_of(32), True, "student_height"
    ),
    config_param(
        C, "student.width", "student channel multiplier", in_range(0.125, 4.0), True, "student_channels"
    ),
    config_param(C, "sgbm.num_disparities", "SGBM disparity range [px]", _multiple_of(16), read_only=True),
    config_param(
        C, "sgbm.block_size", "SGBM window side [px], odd", lambda v: None if v % 2 else "must be odd", True
    ),
    config_param(C, "switching.policy", "switching policy", check=one_of(*POLICIES), read_only=True),
    config_param(
        C, "switching.min_learning_frames", "labelled frames before mono may fly", non_negative, True
    ),
    config_param(C, "switching.quality_enter", "mono AbsRel below which mono takes over", positive, True),
    config_param(C, "switching.quality_exit", "mono AbsRel above which stereo takes back", positive, True),
    config_param(
        C,
        "switching.imminent_distance_m",
        "stereo distance forcing stereo when mono reads farther [m]; >= avoid_distance_m",
        positive,
        read_only=True,
    ),
    config_param(C, "switching.release_distance_m", "stereo distance releasing mono [m]", positive, True),
    config_param(C, "switching.avoid_distance_m", "the controller's avoidance distance [m]", positive, True),
    ParamSpec("learning", True, "add labelled frames and train online"),
    config_param(
        C,
        "min_confident_fraction",
        "frames with fewer confident pixels are not learned",
        in_range(0, 1),
    ),
    config_param(C, "replay_capacity", "replay buffer size [frames]", positive, read_only=True),
    config_param(C, "replay_policy", "replay policy", one_of("reservoir", "diversity"), read_only=True),
    config_param(C, "learner.learning_rate", "AdamW learning rate of the student", positive, read_only=True),
    config_param(
        C, "trainer.cpu_fraction", "share of one core the trainer may use", in_range(0.01, 1.0), True
    ),
    config_param(
        C, "trainer.batch_size", "training batch [frames]; training starts at this many", positive, True
    ),
    config_param(
        C,
        "trainer.steps_per_input",
        "lock-step learning: exactly this many training steps per processed pair, trained before the next "
        "pair (0 = free-running trainer limited by cpu_fraction)",
        non_negative,
        read_only=True,
        name="train_steps_per_input",
    ),
    config_param(
        C,
        "trainer.publish_every_steps",
        "training steps between inference model updates",
        positive,
        True,
        "hot_swap_every_steps",
    ),
    config_param(C, "inference_backend", "student inference", one_of("torch", "onnxruntime"), read_only=True),
    *MODEL_SPECS,
    ParamSpec("queue_depth", 2, "stereo pairs waiting for processing", positive, read_only=True),
]


class StereoMonoNode(PipelineNode):
    """See module docstring."""

    SPECS = SPECS
    NO_PIPELINE = "no CameraInfo pair has arrived yet, so no model exists"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("stereo_mono_node", **kwargs)
        p = self.params
        torch.set_num_threads(1)
        values = config_values(p, SPECS)
        values["trainer"]["min_samples"] = p["batch_size"]  # training starts with the first full batch
        self.config = StereoMonoConfig.from_dict(values)
        self.pipeline: StereoMonoPipeline | None = None
        self._calibration_key: Any = None
        self._rejected_calibration: tuple[Any, RejectedInput] | None = None  # (key, why) of a bad pair
        self._info: dict[str, CameraInfo] = {}  # the last valid CameraInfo per side
        self._info_problem: dict[str, str] = {}  # side -> why its last CameraInfo was dropped
        self._last_mode = ""
        self.frames_processed = 0
        self._timing = QualityEstimate(0.05)  # smoothed processing time per pair [ms]
        self.topics = {side: p[f"{side}_image_topic"] for side in ("left", "right")}
        self.info_topics = {side: p[f"{side}_info_topic"] for side in ("left", "right")}
        self.pairer = ApproximatePairer(int(p["pair_tolerance_s"] * 1e9))
        self.worker = LatestWorker(
            "stereo-mono", self._process, p["queue_depth"], self._on_discard, self._on_error
        )
        inputs = ReentrantCallbackGroup()
        for side in ("left", "right"):
            self.create_subscription(
                Image,
                self.topics[side],
                partial(self._on_image, side),
                SENSOR_QOS,
                callback_group=inputs,
            )
            self.create_subscription(
                CameraInfo,
                self.info_topics[side],
                partial(self._on_info, side),
                SENSOR_QOS,
                callback_group=inputs,
            )
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
        topic = self.info_topics[side]
        self.monitor.received(topic)
        try:
            camera_model(msg, topic, projection=True, right=side == "right")
        except RejectedInput as exc:
            if self._info_problem.get(side) != str(exc):  # a new problem is logged at once, unthrottled
                self.get_logger().warning(f"dropped input on {topic} ({exc.reason}): {exc}")
                self.monitor.dropped(topic, exc.reason)
            else:
                self.drop(topic, exc)
            self._info_problem[side] = str(exc)
            return
        self._info[side] = msg
        self._info_problem.pop(side, None)

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
        if result.pair is not None:
            # The CameraInfos current now, not when the worker gets to the pair (it may lag behind).
            infos = (self._info.get("left"), self._info.get("right"), dict(self._info_problem))
            self.worker.submit((result.pair, infos))

    def _on_discard(self, pair: Any) -> None:
        self.drop(self.topics["left"], "queue_full")

    def _on_error(self, pair: Any, exc: BaseException) -> None:
        self.drop(self.topics["left"], exc)

    # -- processing --------------------------------------------------------------------------------------
    def _pipeline_for_calibration(self, infos: tuple[Any, Any, dict[str, str]]) -> StereoMonoPipeline:
        """The pipeline, created on the first valid CameraInfo pair; its geometry follows calibration changes.

        Args:
            infos: the last valid (left, right) CameraInfo (None where none arrived yet) and, per side, why
                the CameraInfos after it were dropped.

        Raises:
            LookupError: no CameraInfo has arrived on a side.
            RejectedInput: ``bad_calibration``: no valid CameraInfo on a side yet, or the pair does not fit
                (sizes differ, rectified size too small).
        """
        left, right, problems = infos
        for side, info in (("left", left), ("right", right)):
            if info is None and side in problems:
                raise RejectedInput("bad_calibration", f"no valid CameraInfo yet: {problems[side]}")
        if left is None or right is None:
            raise LookupError("no CameraInfo yet on both sides")
        key = tuple(tuple(getattr(info, f)) for info in (left, right) for f in ("k", "d", "r", "p")) + (
            left.width,
            left.height,
            right.width,
            right.height,
        )
        if self._rejected_calibration is not None and self._rejected_calibration[0] == key:
            raise self._rejected_calibration[1]
        if self.pipeline is None or key != self._calibration_key:
            try:  # both raise ValueError for a pair they cannot rectify, naming the field
                calibration = StereoCalibration.from_camera_info(left, right)
                if self.pipeline is None:
                    pipeline = StereoMonoPipeline(self.config, calibration)
                else:  # new calibration: new geometry, same learner
                    self.pipeline.set_calibration(calibration)
                    self.log_info("calibration changed: rectification and stereo geometry rebuilt")
            except ValueError as exc:
                topics = " and ".join(self.info_topics.values())
                rejected = RejectedInput("bad_calibration", f"CameraInfo pair on {topics}: {exc}")
                self._rejected_calibration = (key, rejected)
                raise rejected from exc
            if self.pipeline is None:
                self.pipeline = pipeline
                self.load_model_at_start()
                if self.params["learning"]:
                    self._start_learning()
            self._calibration_key = key
        return self.pipeline

    def _process(self, job: Any) -> None:
        pair, infos = job
        (stamp_ns, frame_id, _, left), (_, _, _, right) = pair
        topic = self.topics["left"]
        try:
            pipeline = self._pipeline_for_calibration(infos)
        except LookupError:
            self.drop(topic, "no_camera_info")
            return
        except RejectedInput as exc:
            self.drop(topic, exc)
            return
        calibrated = pipeline.calibration.image_size
        if left.shape != right.shape or left.shape[::-1] != calibrated:
            sizes = f"left {left.shape[1]}x{left.shape[0]}, right {right.shape[1]}x{right.shape[0]}"
            problem = f"stereo pair on {topic}: {sizes}, CameraInfo {calibrated[0]}x{calibrated[1]}"
            self.drop(
                topic, RejectedInput("size_mismatch", f"{problem}; publish both at the calibrated size")
            )
            return
        started = time.perf_counter()
        out = pipeline.process(left, right, stamp_ns * 1e-9)
        lockstep = pipeline.grant_steps()  # lock-step: this pair's steps train while its outputs go out
        mono = out.mono_depth if out.mono_depth is not None else np.full_like(out.stereo_depth, np.nan)
        if out.mode.value != self._last_mode:  # before the outputs: a reader of this frame sees its mode
            self._last_mode = out.mode.value
            self.pub_mode.publish(String(data=out.mode.value))
        self._publish(stamp_ns, frame_id, out, mono, pipeline)
        self.frames_processed += 1
        self._timing.update((time.perf_counter() - started) * 1e3)
        if lockstep and not pipeline.trainer.wait_until_trained(LOCKSTEP_TIMEOUT_S):
            self.get_logger().warning(
                f"train_steps_per_input: {pipeline.trainer.pending_steps} granted steps still untrained after "
                f"{LOCKSTEP_TIMEOUT_S:.0f} s; the next pair is processed anyway (the trainer is too slow for "
                "this machine's load; lower train_steps_per_input)",
                throttle_duration_sec=30.0,
            )

    def _publish(
        self, stamp_ns: int, frame_id: str, out: Any, mono: np.ndarray, geometry: StereoMonoPipeline
    ) -> None:
        sgbm, focal = self.config.sgbm, geometry.focal_px
        searched = (sgbm.min_disparity, sgbm.min_disparity + sgbm.num_disparities)
        disparity = out.disparity
        self.pub_disparity.publish(
            disparity_image_msg(disparity, stamp_ns, frame_id, focal, geometry.baseline_m, searched)
        )
        self.pub_depth.publish(image_msg(mono.astype(np.float32), "32FC1", stamp_ns, frame_id))
        fov = 2 * math.atan(0.5 * self.config.flight_window * disparity.shape[1] / focal)
        limits = (sgbm.min_depth_m, sgbm.max_depth_m)
        self.pub_distance.publish(range_msg(out.active_distance, stamp_ns, frame_id, fov, limits))

    # -- status ------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "frames_processed": self.frames_processed,
            "processing_ms": self._timing.value,
        }
        pipeline = self.pipeline
        if pipeline is None:
            values.update({"mode": "waiting_for_camera_info", "training_steps": 0, "model_version": 0})
            return values
        values.update(pipeline.status())
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
