"""``terrain_node``: self-supervised visual terrain segmentation from interaction audio (Zurn et al. 2021).

Subscribes (sensor-data QoS):
    ``camera/image_raw``    sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8), a forward-down camera
    ``camera/camera_info``  sensor_msgs/CameraInfo (intrinsics of that camera; undistorted images)
    ``audio``               std_msgs/Int16MultiArray, robossl's audio layout (docs/logs.md), mono mic
    ``odom``                nav_msgs/Odometry, the robot's pose in a fixed frame (x, y, yaw are used)
The camera mount on the base comes from the ``camera_mount`` parameter ``[x, z, pitch_down_deg]``.

Publishes:
    ``terrain/labels``      sensor_msgs/Image mono8, terrain cluster id per pixel (255 = unknown), with
                            the input image's stamp and frame
    ``terrain/clusters``    std_msgs/String JSON cluster statistics (k, clips per cluster, silhouette,
                            training steps), reliable + transient local, after each learning round

Learning (clips -> triplets mined from the tracks' appearance -> embedding -> k-means -> track labels
painted into earlier images -> segmentation) is :class:`robossl.pipelines.terrain.pipeline.TerrainPipeline`:
one learning round (``embedding_steps`` + ``segmentation_steps``) is one step of its background trainer,
run under a CPU budget (``cpu_fraction``); ``terrain/clusters`` is published after each round.

Lock-step learning (``images_per_round`` > 0, for simulations and replays that must give the same result on
any machine): no background thread; after every n-th image (its label image already published) the ingest
thread runs exactly one round, once the audio and odometry sent before the image have arrived
(:mod:`robossl_ros.lockstep`), and after every image it publishes ``terrain/clusters`` with
``images_seen``, so a publisher that waits for it gets the same learning per image on any machine.

The model is loaded from ``model_path`` at start when that file exists (e.g. a checkpoint pretrained
offline from logs with :func:`robossl.pipelines.terrain.replay.feed_bag`; same format as the node saves).

Inputs the node cannot use are dropped and counted by reason, among them ``bad_calibration`` (a CameraInfo
with NaN/inf or a focal length that is not positive; the last valid one stays in use), ``empty_image`` and
``empty_audio`` (zero pixels, zero samples).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Int16MultiArray, String
from std_srvs.srv import Trigger

from robossl.data.bags.image_codec import to_rgb8
from robossl.pipelines.terrain.projection import PinholeCamera, camera_mount
from robossl_ros.base import PipelineNode, deprioritise_threads
from robossl_ros.conversions import (  # noqa: F401  (yaw_of re-exported for its users)
    RejectedInput,
    audio_chunk,
    camera_model,
    image_array,
    image_msg,
    odometry_pose,
    yaw_of,
)
from robossl_ros.qos import HIGH_RATE_SENSOR_QOS, RESULT_QOS, SENSOR_QOS, STATUS_QOS
from robossl_ros.runtime import node_main
from robossl_ros.terrain_ingest import TOPIC_OF_KIND, TerrainIngest
from robossl_ros.terrain_params import SPECS, build_pipeline


class TerrainNode(PipelineNode):
    """See module docstring."""

    SPECS = SPECS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("terrain_node", **kwargs)
        p = self.params
        torch.set_num_threads(1)
        # A checkpoint waits for the current learning round (the pipeline saves under its trainer's lock);
        # segmentation does not: it runs the network the pipeline published at the end of the last round.
        self.pipeline = build_pipeline(p)
        self.mount = camera_mount(*[float(v) for v in p["camera_mount"]])
        self.load_model_at_start("terrain model")
        self.topics = {name: p[f"{name}_topic"] for name in ("image", "camera_info", "audio", "odom")}
        self._camera_key: Any = None
        self._last_error = ""
        lockstep_images = p["images_per_round"]
        self.ingest = TerrainIngest(self.pipeline, p, self, p["queue_depth"], lockstep_images)
        self.pub_labels = self.create_publisher(Image, "terrain/labels", RESULT_QOS)
        self.pub_clusters = self.create_publisher(String, "terrain/clusters", STATUS_QOS)
        inputs = MutuallyExclusiveCallbackGroup()
        for kind, topic, callback, qos in (
            (Image, self.topics["image"], self._on_image, SENSOR_QOS),
            (CameraInfo, self.topics["camera_info"], self._on_info, SENSOR_QOS),
            (Int16MultiArray, self.topics["audio"], self._on_audio, HIGH_RATE_SENSOR_QOS),
            (Odometry, self.topics["odom"], self._on_odom, HIGH_RATE_SENSOR_QOS),
        ):
            self.create_subscription(kind, topic, callback, qos, callback_group=inputs)
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "~/save_model", self._srv_save, callback_group=services)
        if not lockstep_images:
            self.pipeline.trainer.on_step = lambda metrics: self.publish_statistics()
            self.pipeline.start_learning()
            deprioritise_threads("robossl-trainer")  # inference first when the CPU is contended

    def on_parameter_change(self, name: str, value: Any) -> None:
        if name in ("embedding_steps", "segmentation_steps"):
            steps = {n: self.params[n] for n in ("embedding_steps", "segmentation_steps")} | {name: value}
            self.pipeline.set_round_steps(**steps)
        elif name == "cpu_fraction":
            self.pipeline.trainer.config.cpu_fraction = value

    # -- inputs ------------------------------------------------------------------------------------------
    def _on_info(self, msg: CameraInfo) -> None:
        topic = self.topics["camera_info"]
        self.monitor.received(topic)
        try:
            model = camera_model(msg, topic)
        except RejectedInput as exc:
            self.drop(topic, exc)
            return
        key = (model.width, model.height, tuple(model.K.ravel()))
        if key != self._camera_key:
            K = model.K
            camera = PinholeCamera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], model.width, model.height)
            self.pipeline.set_camera(camera, self.mount)
            self._camera_key = key

    def _on_image(self, msg: Image) -> None:
        topic, camera = self.topics["image"], self.pipeline.camera
        self.monitor.received(topic)
        try:
            stamp_ns, array = image_array(msg, topic)
            rgb = np.ascontiguousarray(to_rgb8(array, msg.encoding))
        except ValueError as exc:
            self.drop(topic, exc)
            return
        if not self.monitor.accept_stamp(topic, stamp_ns):
            return
        if camera is not None and rgb.shape[:2] != (camera.height, camera.width):
            size, info = f"{rgb.shape[1]}x{rgb.shape[0]}", f"{camera.width}x{camera.height}"
            problem = f"image on {topic} is {size} but CameraInfo on {self.topics['camera_info']} is {info}"
            self.drop(
                topic, RejectedInput("size_mismatch", f"{problem}; publish images at the calibrated size")
            )
            return
        self.ingest.submit("image", stamp_ns, (rgb.copy(), msg.header.frame_id))

    def _on_audio(self, msg: Int16MultiArray) -> None:
        topic = self.topics["audio"]
        self.monitor.received(topic)
        try:
            chunk = audio_chunk(msg, topic)
            rate = self.params["sample_rate"]
            if chunk.sample_rate_hz != rate:
                problem = f"audio on {topic} is {chunk.sample_rate_hz:g} Hz, sample_rate is {rate} Hz"
                raise RejectedInput("wrong_rate", f"{problem}; resample or set sample_rate")
        except ValueError as exc:
            self.drop(topic, exc)
            return
        if self.monitor.accept_stamp(topic, chunk.stamp_ns):
            self.ingest.submit("audio", chunk.stamp_ns, np.array(chunk.samples[:, 0]))

    def _on_odom(self, msg: Odometry) -> None:
        topic = self.topics["odom"]
        self.monitor.received(topic)
        try:
            stamp_ns, pose = odometry_pose(msg, topic)
        except RejectedInput as exc:
            self.drop(topic, exc)
            return
        if self.monitor.accept_stamp(topic, stamp_ns):
            self.ingest.submit("pose", stamp_ns, pose)

    # -- outputs of the ingest thread ------------------------------------------------------------------
    def publish_labels(self, labels: np.ndarray, stamp_ns: int, frame_id: str) -> None:
        self.pub_labels.publish(image_msg(labels, "mono8", stamp_ns, frame_id))

    def publish_statistics(self) -> None:
        """``terrain/clusters``: the pipeline's cluster report and ``images_seen``."""
        # Ctrl-C shuts the ROS context down before close() stops this thread: a round finishing in
        # between must not publish into the dead context (rclpy raises "context is invalid").
        if self.closed or not self.context.ok():
            return
        try:
            report = self.pipeline.cluster_report() | {"images_seen": self.ingest.images_seen}
            self.pub_clusters.publish(String(data=json.dumps(report)))
        except Exception:
            if self.context.ok():
                raise

    def drop_input(self, kind: str, why: BaseException | str) -> None:
        self.drop(self.topics[TOPIC_OF_KIND[kind]], why)

    def report_error(self, text: str) -> None:
        self._last_error = text  # shown in diagnostics
        self.get_logger().error(text)

    # -- persistence and status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        values = self.pipeline.status()
        values["labels_published"] = self.ingest.labels_published
        if self.ingest.lockstep:
            values["lockstep_settle_timeouts"] = self.ingest.lockstep.settle_timeouts
        if self._last_error:
            values["last_error"] = self._last_error
        return values

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self.pipeline.stop_learning()  # after the round in progress
        self.ingest.stop(timeout=30.0)
        self.stop_and_save()


def main(args: list[str] | None = None) -> int:
    return node_main("terrain_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
