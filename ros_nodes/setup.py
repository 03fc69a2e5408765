"""colcon / ament_python build of the robossl_ros package (needs robossl installed in the same Python)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robossl_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="robossl developers",
    description="ROS 2 nodes for robossl",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"{node} = {PACKAGE}.{node}:main"
            for node in ("stereo_mono_node", "terrain_node", "har_node", "serial_bridge_node")
        ]
    },
)
