"""rlattn: Deep Attentive Tracking via Reciprocative Learning (Pu et al., NeurIPS 2018), reproduced."""

from rlattn.config import TrackerConfig
from rlattn.errors import RlattnError
from rlattn.tracker import DATTracker, Tracker

__version__ = "0.1.0"
__all__ = ["DATTracker", "RlattnError", "Tracker", "TrackerConfig", "__version__"]
