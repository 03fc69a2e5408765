"""Offline retraining from many logs: discover logs, label them once (teacher cache), train the student.

- :mod:`robossl.scale.logs`: a folder of bags or a list of paths -> the logs to read.
- :mod:`robossl.scale.stereo_retrain`: the in-process path (one machine, one process): label every log
  through the teacher cache, gather the samples, train the monocular student.
- :mod:`robossl.scale.ray_retrain`: the same on Ray (optional extra ``robossl[ray]``): Ray Data labels the
  logs in parallel (one task per log, cache beside each log), Ray Train's TorchTrainer trains with DDP.

Nothing here imports ``ray`` at module level; ``ray_retrain`` imports it when called.
"""
