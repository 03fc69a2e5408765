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
any machine): no background thread; after every n-th image (its label image already published) the node
runs exactly one round of ``embedding_steps`` + ``segmentation_steps``, and after every image (after its
round) it publishes ``terrain/clusters`` with ``images_seen``. A publisher that waits for ``images_seen`` to
reach the images it sent before sending more gets the same learning per image however fast the CPU is (a
slower machine only takes longer). The round waits until the audio and odometry sent before the image have
arrived (DDS does not keep the order between topics): until the newest audio chunk ends, and the newest
pose lies, less than one chunk / pose interval before the image's stamp, or 2 s at most (counted as
``lockstep_settle_timeouts``); see :mod:`robossl_ros.lockstep`.

The model is loaded from ``model_path`` at start when that file exists (e.g. a checkpoint pretrained
offline from logs with :func:`robossl.pipelines.terrain.replay.feed_bag`; same format as the node saves).

Inputs the node cannot use are dropped and counted by reason, among them ``bad_calibration`` (a CameraInfo
with NaN/inf or a focal length that is not positive; the last valid one stays in use), ``empty_image`` and
``empty_audio`` (zero pixels, zero samples).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Int16MultiArray, String
from std_srvs.srv import Trigger

from robossl.data.bags.image_codec import to_rgb8
from robossl.online import TrainerConfig
from robossl.pipelines.terrain.embedding import EmbeddingConfig
from robossl.pipelines.terrain.pipeline import TerrainPipeline, TerrainPipelineConfig, microphone_config
from robossl.pipelines.terrain.projection import PinholeCamera, camera_mount
from robossl_ros.base import MODEL_SPECS, PipelineNode, deprioritise_threads
from robossl_ros.conversions import (  # noqa: F401  (yaw_of re-exported for its users)
    RejectedInput,
    audio_chunk,
    camera_model,
    image_array,
    image_msg,
    odometry_pose,
    yaw_of,
)
from robossl_ros.lockstep import LockstepRounds
from robossl_ros.params import (
    ParamSpec,
    config_param,
    config_values,
    in_range,
    non_empty,
    non_negative,
    positive,
)
from robossl_ros.qos import HIGH_RATE_SENSOR_QOS, RESULT_QOS, SENSOR_QOS, STATUS_QOS
from robossl_ros.runtime import node_main
from robossl_ros.worker import LatestWorker


def _mount(value: list[float]) -> str | None:
    return None if len(value) == 3 else f"must be [x_m, z_m, pitch_down_deg], got {value}"


P = TerrainPipelineConfig  # pipeline parameters take their defaults (one source)

SPECS = [
    ParamSpec("image_topic", "camera/image_raw", "camera image", non_empty, read_only=True),
    ParamSpec("camera_info_topic", "camera/camera_info", "camera intrinsics", non_empty, read_only=True),
    ParamSpec("audio_topic", "audio", "interaction audio (Int16MultiArray)", non_empty, read_only=True),
    ParamSpec("odom_topic", "odom", "robot pose (nav_msgs/Odometry)", non_empty, read_only=True),
    ParamSpec(
        "camera_mount", [0.3, 0.5, 30.0], "camera on the base: [x m, z m, pitch down deg]", _mount, True
    ),
    config_param(
        P,
        "num_clusters",
        "terrain clusters (0 = choose by silhouette)",
        in_range(0, 254),
        True,
        group="pipeline",
    ),
    config_param(P, "sample_rate", "audio sample rate [Hz]", positive, True, group="pipeline"),
    config_param(P, "min_clips", "audio clips before the first embedding", positive, True, group="pipeline"),
    config_param(P, "max_clips", "audio clips kept (oldest dropped)", positive, True, group="pipeline"),
    config_param(
        P, "max_images", "images kept for labelling (oldest dropped)", positive, True, group="pipeline"
    ),
    config_param(
        P,
        "label_horizon_s",
        "tracks driven up to this long after an image are painted into it [s]",
        positive,
        True,
        group="pipeline",
    ),
    config_param(
        P,
        "embedding.learning_rate",
        "Adam learning rate of the audio embedding",
        positive,
        True,
        "embedding_learning_rate",
        "pipeline",
    ),
    ParamSpec("embedding_steps", 5, "embedding steps per learning round", non_negative),
    ParamSpec("segmentation_steps", 5, "segmentation steps per learning round", non_negative),
    config_param(
        TrainerConfig,
        "cpu_fraction",
        "share of one core learning may use",
        in_range(0.01, 1.0),
        group="trainer",
    ),
    ParamSpec(
        "images_per_round",
        0,
        "lock-step: one learning round after every n-th image, in the ingest thread (0 = background "
        "learning under cpu_fraction)",
        non_negative,
        read_only=True,
    ),
    ParamSpec("segment_every_n", 1, "segment every n-th image", positive),
    ParamSpec("queue_depth", 5000, "inputs waiting for the pipeline while it learns", positive, True),
    *MODEL_SPECS,
]


class TerrainNode(PipelineNode):
    """See module docstring."""

    SPECS = SPECS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("terrain_node", **kwargs)
        p = self.params
        torch.set_num_threads(1)
        # A checkpoint waits for the current learning round (the pipeline saves under its trainer's lock);
        # segmentation does not: it runs the network the pipeline published at the end of the last round.
        values = config_values(p, SPECS)
        learner = values["pipeline"]
        learner["num_clusters"] = learner["num_clusters"] or None  # 0: choose k by silhouette
        learner["embedding"] = replace(EmbeddingConfig(), **learner["embedding"])
        self.pipeline = TerrainPipeline(
            microphone_config(learner.pop("sample_rate"), **learner),
            trainer=TrainerConfig(torch_threads=1, **values["trainer"]),
            embedding_steps=p["embedding_steps"],
            segmentation_steps=p["segmentation_steps"],
        )
        self.mount = camera_mount(*[float(v) for v in p["camera_mount"]])
        self.load_model_at_start("terrain model")
        self.topics = {name: p[f"{name}_topic"] for name in ("image", "camera_info", "audio", "odom")}
        self._camera_key: Any = None
        self.images_seen = 0
        self.labels_published = 0
        self._last_error = ""
        self.ingest = LatestWorker(
            "terrain-ingest", self._ingest, p["queue_depth"], self._on_ingest_discard, self._on_ingest_error
        )
        self.pub_labels = self.create_publisher(Image, "terrain/labels", RESULT_QOS)
        self.pub_clusters = self.create_publisher(String, "terrain/clusters", STATUS_QOS)
        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(
            Image, self.topics["image"], self._on_image, SENSOR_QOS, callback_group=inputs
        )
        self.create_subscription(
            CameraInfo, self.topics["camera_info"], self._on_info, SENSOR_QOS, callback_group=inputs
        )
        self.create_subscription(
            Int16MultiArray, self.topics["audio"], self._on_audio, HIGH_RATE_SENSOR_QOS, callback_group=inputs
        )
        self.create_subscription(
            Odometry, self.topics["odom"], self._on_odom, HIGH_RATE_SENSOR_QOS, callback_group=inputs
        )
        self.create_service(
            Trigger, "~/save_model", self._srv_save, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self.lockstep: LockstepRounds | None = None
        if p["images_per_round"] > 0:
            wake = lambda: self.ingest.submit(("settle", 0, None))  # noqa: E731
            self.lockstep = LockstepRounds(p["images_per_round"], self._lockstep_round, wake)
        if not self.lockstep:
            self.pipeline.trainer.on_step = lambda metrics: self._publish_statistics()
            self.pipeline.start_learning()
            deprioritise_threads("robossl-trainer")  # inference first when the CPU is contended

    def on_parameter_change(self, name: str, value: Any) -> None:
        if name in ("embedding_steps", "segmentation_steps"):
            steps = {
                "embedding_steps": self.params["embedding_steps"],
                "segmentation_steps": self.params["segmentation_steps"],
            }
            steps[name] = value
            self.pipeline.set_round_steps(steps["embedding_steps"], steps["segmentation_steps"])
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
        topic = self.topics["image"]
        self.monitor.received(topic)
        try:
            stamp_ns, array = image_array(msg, topic)
            rgb = np.ascontiguousarray(to_rgb8(array, msg.encoding))
        except ValueError as exc:
            self.drop(topic, exc)
            return
        if not self.monitor.accept_stamp(topic, stamp_ns):
            return
        camera = self.pipeline.camera
        if camera is not None and rgb.shape[:2] != (camera.height, camera.width):
            size = f"{rgb.shape[1]}x{rgb.shape[0]}"
            info = f"{camera.width}x{camera.height}"
            self.drop(
                topic,
                RejectedInput(
                    "size_mismatch",
                    f"image on {topic} is {size} but CameraInfo on {self.topics['camera_info']} is {info}; "
                    "publish images at the calibrated size",
                ),
            )
            return
        self.ingest.submit(("image", stamp_ns, (rgb.copy(), msg.header.frame_id)))

    def _ingest(self, job: tuple[str, int, Any]) -> None:
        """Ingestion thread: feeds the pipeline in arrival order (the pipeline may block while it learns)."""
        kind, stamp_ns, payload = job
        t = stamp_ns * 1e-9
        if kind == "pose":
            self.pipeline.add_pose(t, payload)
            if self.lockstep:
                self.lockstep.reach.pose(t)
        elif kind == "audio":
            self.pipeline.add_audio(t, payload)
            if self.lockstep:
                self.lockstep.reach.audio(t, len(payload) / self.params["sample_rate"])
        elif kind == "image":
            rgb, frame_id = payload
            if not self.pipeline.add_image(t, rgb):
                self.drop(self.topics["image"], "pipeline_rejected")
                return
            self.images_seen += 1
            if self.images_seen % self.params["segment_every_n"] == 0:
                labels = self.pipeline.segment(rgb)
                self.pub_labels.publish(image_msg(labels, "mono8", stamp_ns, frame_id))
                self.labels_published += 1
            if self.lockstep and not self.lockstep.image_done(t, self.images_seen):
                self._publish_statistics()  # no round after this image: it is done now
        if self.lockstep:
            self.lockstep.run_due()

    def _lockstep_round(self) -> None:
        """Lock-step: one round (this thread ingests nothing meanwhile), then report the image done."""
        self._learn_round()
        self._publish_statistics()

    def _on_ingest_discard(self, job: tuple[str, int, Any]) -> None:
        if job[0] != "settle":
            self.drop(self.topics[job[0] if job[0] != "pose" else "odom"], "queue_full")

    def _on_ingest_error(self, job: tuple[str, int, Any], exc: BaseException) -> None:
        if job[0] == "settle":
            self._last_error = f"{type(exc).__name__}: {exc}"
            return
        self.drop(self.topics[job[0] if job[0] != "pose" else "odom"], exc)

    def _on_audio(self, msg: Int16MultiArray) -> None:
        topic = self.topics["audio"]
        self.monitor.received(topic)
        try:
            chunk = audio_chunk(msg, topic)
        except ValueError as exc:
            self.drop(topic, exc)
            return
        if chunk.sample_rate_hz != self.params["sample_rate"]:
            expected = self.params["sample_rate"]
            problem = f"audio on {topic} is {chunk.sample_rate_hz:g} Hz, sample_rate is {expected} Hz"
            self.drop(topic, RejectedInput("wrong_rate", f"{problem}; resample or set sample_rate"))
            return
        if not self.monitor.accept_stamp(topic, chunk.stamp_ns):
            return
        self.ingest.submit(("audio", chunk.stamp_ns, np.array(chunk.samples[:, 0])))

    def _on_odom(self, msg: Odometry) -> None:
        topic = self.topics["odom"]
        self.monitor.received(topic)
        try:
            stamp_ns, pose = odometry_pose(msg, topic)
        except RejectedInput as exc:
            self.drop(topic, exc)
            return
        if not self.monitor.accept_stamp(topic, stamp_ns):
            return
        self.ingest.submit(("pose", stamp_ns, pose))

    # -- learning ----------------------------------------------------------------------------------------
    def _learn_round(self) -> dict[str, float]:
        """Lock-step: one learning round now; ``{}`` before ``min_clips`` clips or when it failed (the error
        goes to diagnostics)."""
        try:
            return self.pipeline.learn(self.params["embedding_steps"], self.params["segmentation_steps"])
        except Exception as exc:  # keep the robot's learner alive; report in diagnostics
            self._last_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"terrain learning round failed: {self._last_error}")
            return {}

    def _publish_statistics(self) -> None:
        # Ctrl-C shuts the ROS context down before close() stops this thread: a round finishing in
        # between must not publish into the dead context (rclpy raises "context is invalid").
        if self.closed or not self.context.ok():
            return
        try:
            self.pub_clusters.publish(String(data=json.dumps(self.cluster_statistics())))
        except Exception:
            if self.context.ok():
                raise

    def cluster_statistics(self) -> dict[str, Any]:
        """JSON-friendly cluster statistics (published on ``terrain/clusters``)."""
        stats = self.pipeline.stats()
        return {
            "num_clusters": stats["num_clusters"],
            "clips_per_cluster": stats["cluster_counts"],
            "silhouette": {str(k): v for k, v in stats["silhouette"].items()},
            "clips": stats["clips"],
            "clips_with_visual_descriptor": stats["clips_with_visual_descriptor"],
            "embedding_steps": stats["embedding_steps"],
            "segmentation_steps": stats["segmentation_steps"],
            "learning_rounds": self.pipeline.rounds,
            "images_seen": self.images_seen,
        }

    # -- persistence and status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        values = self.pipeline.status()
        values["labels_published"] = self.labels_published
        if self.lockstep:
            values["lockstep_settle_timeouts"] = self.lockstep.settle_timeouts
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
