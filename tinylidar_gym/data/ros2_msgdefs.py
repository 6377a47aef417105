"""ROS 2 message definitions (``ros2msg`` text, as rosbag2 stores them in MCAP schemas) for the
two message types a real-car recording needs, so bags can be written without a ROS install::

    from mcap_ros2.writer import Writer

    with open("car.mcap", "wb") as f, Writer(f) as w:
        scan_schema = w.register_msgdef(LASER_SCAN, LASER_SCAN_MSGDEF)
        w.write_message("/scan", scan_schema, {"header": ..., "ranges": [...], ...}, log_time=t_ns)

Each text is the type's own definition followed by its dependencies, separated by a line of
``=`` and a ``MSG: package/Type`` line (the concatenated form ``ros2 bag record`` writes).
"""

from __future__ import annotations

LASER_SCAN = "sensor_msgs/msg/LaserScan"
"""Schema name of a LaserScan channel."""
ACKERMANN_DRIVE_STAMPED = "ackermann_msgs/msg/AckermannDriveStamped"
"""Schema name of an AckermannDriveStamped channel."""

_SEP = "=" * 80 + "\n"

_TIME = """\
int32 sec
uint32 nanosec
"""

_HEADER = """\
builtin_interfaces/Time stamp
string frame_id
"""

_LASER_SCAN = """\
std_msgs/Header header
float32 angle_min
float32 angle_max
float32 angle_increment
float32 time_increment
float32 scan_time
float32 range_min
float32 range_max
float32[] ranges
float32[] intensities
"""

_ACKERMANN_DRIVE = """\
float32 steering_angle
float32 steering_angle_velocity
float32 speed
float32 acceleration
float32 jerk
"""

_ACKERMANN_DRIVE_STAMPED = """\
std_msgs/Header header
AckermannDrive drive
"""


def _concat(main: str, *deps: tuple[str, str]) -> str:
    return main + "".join(f"{_SEP}MSG: {name}\n{text}" for name, text in deps)


LASER_SCAN_MSGDEF = _concat(
    _LASER_SCAN, ("std_msgs/Header", _HEADER), ("builtin_interfaces/Time", _TIME)
)
"""sensor_msgs/msg/LaserScan with std_msgs/Header and builtin_interfaces/Time."""

ACKERMANN_DRIVE_STAMPED_MSGDEF = _concat(
    _ACKERMANN_DRIVE_STAMPED,
    ("std_msgs/Header", _HEADER),
    ("builtin_interfaces/Time", _TIME),
    ("ackermann_msgs/AckermannDrive", _ACKERMANN_DRIVE),
)
"""ackermann_msgs/msg/AckermannDriveStamped with its AckermannDrive and header types."""
