"""robossl: persistent self-supervised learning for robots.

Core library (torch / numpy / OpenCV / numba only; never imports rclpy or serial).
"""

__version__ = "0.1.0"
