"""Public datasets in their real on-disk formats, one module per dataset.

| module | dataset | returns |
|---|---|---|
| ``euroc.py`` | EuRoC MAV (ASL folders): stereo images, IMU, ground truth | :class:`~.euroc.EurocSequence` |
| ``borealtc.py`` | BorealTC: rover IMU + wheel signals per terrain class | windows with run groups |
| ``actrectut.py`` | ActRecTut (bundled real data): gestures / walking, 3-4 IMUs | :class:`~robossl.data.recording.MultiDeviceRecording` |
| ``realworld.py`` | RealWorld HAR, 7 body positions (Sztyler and Stuckenschmidt 2016) | ``MultiDeviceRecording`` |
| ``opportunity.py`` | OPPORTUNITY, 5 body-worn IMUs (Roggen et al. 2010) | ``MultiDeviceRecording`` |
| ``pamap2.py`` | PAMAP2, 3 IMUs (Reiss and Stricker 2012) | ``MultiDeviceRecording`` |

The multi-device recording type is :mod:`robossl.data.recording`; putting independently stamped streams on
one clock is :mod:`robossl.data.sync`. Converting a dataset to a bag: :mod:`robossl.data.convert`.
"""
