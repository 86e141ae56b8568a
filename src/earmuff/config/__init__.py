"""Settings from the environment and the policy file: the one place for configuration."""

from earmuff.config.policy import Policy, RetentionPolicy, load_policy
from earmuff.config.settings import IngestLimits, Settings

__all__ = ["IngestLimits", "Policy", "RetentionPolicy", "Settings", "load_policy"]
