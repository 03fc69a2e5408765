"""Every node's diagnostics carry the inference-first runtime values (PipelineNode.runtime_status)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from robossl.online import BackgroundTrainer, ReplayBuffer, TrainerConfig


class TinyLearner:
    def __init__(self) -> None:
        self.model = torch.nn.Linear(1, 1)

    def step(self, batch: list[Any]) -> dict[str, float]:
        time.sleep(0.002)
        return {"loss": 0.0}

    def inference_model(self) -> torch.nn.Module:
        return self.model

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class TinyPipeline:
    """Stands in for a robossl pipeline: the runtime values come only from its real trainer."""

    def __init__(self) -> None:
        replay = ReplayBuffer(16)
        for i in range(16):
            replay.add(i)
        self.trainer = BackgroundTrainer(TinyLearner(), replay, config=TrainerConfig(batch_size=4))


@pytest.mark.ros
def test_diagnostics_report_inference_latency_and_learner_rate() -> None:
    import rclpy

    from robossl_ros.base import PipelineNode
    from robossl_ros.diagnostics import status_values

    rclpy.init()
    node = None
    try:
        node = PipelineNode("runtime_probe")
        values = status_values(node.diagnostics.build(), "runtime_probe")
        assert values is not None and "inference_p99_ms" not in values  # no pipeline yet: no runtime keys
        pipeline = TinyPipeline()
        node.pipeline = pipeline
        pipeline.trainer.start()
        for k in range(40):  # 20 ms frames, then one 100 ms frame
            with pipeline.trainer.inference.frame():
                time.sleep(0.1 if k == 39 else 0.02)
            time.sleep(0.01)
        pipeline.trainer.stop()
        values = status_values(node.diagnostics.build(), "runtime_probe")
        assert values is not None
        assert values["inference_frames"] == "40"
        assert 19.0 <= float(values["inference_p50_ms"]) < 40.0
        assert float(values["inference_p99_ms"]) > 60.0  # the slow frame shows in the p99
        assert float(values["learner_steps_per_s"]) > 1.0
        assert values["learner_steps"] == str(pipeline.trainer.steps)
        assert values["learner_niceness"] == "19"
        assert 0.0 < float(values["learner_duty_cycle"]) <= 0.5
        assert int(values["frames_overlapped_by_learning"]) <= 40
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
