"""Self-supervised methods composed from a backbone, heads, an objective and views, registered by name.

Example::

    from robossl.methods import InputSpec, Learner, LearnerConfig, build_method
    spec = InputSpec("imu", (32, 15), rotation_groups=((0, 1, 2),))
    learner = Learner(build_method("barlow_twins", spec), LearnerConfig(total_steps=1000))
    metrics = learner.step(batch)              # batch: (B, 32, 15) float
    state = learner.state_dict()               # save with robossl.online.checkpoint.save_checkpoint
"""

# importing a method module registers its methods
from robossl.methods import (  # noqa: F401
    bootstrap,
    bss,
    cluster_dino,
    collossl,
    dino,
    groco,
    halp,
    masked_image,
    mugs,
    scatsimclr,
    sie,
    tera,
    tjepa,
    two_view,
)
from robossl.methods.base import MODALITIES, InputSpec, SSLMethod
from robossl.methods.learner import Learner, LearnerConfig, MethodLearner, MethodLearnerConfig
from robossl.methods.registry import available_methods, build_method, make_config, register_method

__all__ = [
    "MODALITIES",
    "InputSpec",
    "Learner",
    "LearnerConfig",
    "MethodLearner",
    "MethodLearnerConfig",
    "SSLMethod",
    "available_methods",
    "build_method",
    "make_config",
    "register_method",
]
