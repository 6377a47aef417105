"""Static HTML report of runs: PNG plots (success by seed, failure locations, trajectories by
speed, end reasons, learning curves) and a table linking every episode's recording.

from tinylidar_gym.report import build_report
build_report("runs/expert-train-000000-000099")  # -> .../report/index.html
"""

from tinylidar_gym.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
