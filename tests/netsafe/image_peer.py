"""One side of the DDS image smoke test, run as its own process: `python image_peer.py pub|sub ...`.

pub: publishes N sensor_msgs/Image 640x480 rgb8 at RATE Hz; frame k is a deterministic pattern of k.
sub: receives for DURATION s and writes JSON {"received": n, "intact": n, "seqs": [...]} to OUT.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from robossl.netsafe import apply_loopback_env, require_loopback_env

WIDTH, HEIGHT = 640, 480


def frame(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


def main() -> int:
    role = sys.argv[1]
    apply_loopback_env()
    require_loopback_env()
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node(f"smoke_{role}")
    qos = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
    try:
        if role == "pub":
            count, rate = int(sys.argv[2]), float(sys.argv[3])
            pub = node.create_publisher(Image, "smoke/image", qos)
            deadline = time.monotonic() + 20.0
            while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.05)
            time.sleep(0.5)  # let the subscriber finish matching our writer
            start = time.monotonic()
            for k in range(count):
                msg = Image()
                msg.header.frame_id = f"cam_{k}"
                msg.height, msg.width, msg.encoding, msg.step = HEIGHT, WIDTH, "rgb8", WIDTH * 3
                msg.data = frame(k).tobytes()
                pub.publish(msg)
                time.sleep(max(0.0, start + (k + 1) / rate - time.monotonic()))
            time.sleep(1.0)
        else:
            duration, out = float(sys.argv[2]), sys.argv[3]
            seqs: list[int] = []
            intact = 0

            def on_image(msg: Image) -> None:
                nonlocal intact
                k = int(msg.header.frame_id.split("_")[1])
                seqs.append(k)
                data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
                ok = msg.encoding == "rgb8" and (msg.width, msg.height) == (WIDTH, HEIGHT)
                if (
                    ok
                    and data.size == WIDTH * HEIGHT * 3
                    and np.array_equal(data.reshape(HEIGHT, WIDTH, 3), frame(k))
                ):
                    intact += 1

            node.create_subscription(Image, "smoke/image", on_image, qos)
            deadline = time.monotonic() + duration
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.05)
            with open(out, "w") as f:
                json.dump({"received": len(seqs), "intact": intact, "seqs": seqs}, f)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
