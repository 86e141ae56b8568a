"""earmuff: human review of voice-assistant recordings without exposing who spoke."""

__version__ = "0.1.0"
