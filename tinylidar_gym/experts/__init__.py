"""Drivers: the privileged expert (planner + tracker) and a follow-the-gap baseline."""

from tinylidar_gym.experts.expert import Expert, ExpertConfig
from tinylidar_gym.experts.follow_the_gap import FollowTheGap, FollowTheGapConfig
from tinylidar_gym.experts.planner import Plan, PlannerConfig, plan_path

__all__ = [
    "Expert",
    "ExpertConfig",
    "FollowTheGap",
    "FollowTheGapConfig",
    "Plan",
    "PlannerConfig",
    "plan_path",
]
