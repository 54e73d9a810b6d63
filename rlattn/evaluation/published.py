"""The OTB benchmark's published result files: the names readers know their trackers by."""

from __future__ import annotations

# Folder name under otb_results -> the tracker's usual name (OTB distributes KCF as "GaussHog").
LABELS = {"GaussHog": "KCF (GaussHog)", "MDnet": "MDNet"}


def file_label(name: str) -> str:
    """The display name of a published result folder (unknown names are shown as they are)."""
    return LABELS.get(name, name)
