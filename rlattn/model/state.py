"""Loading a backbone's ``.pth`` weights: any bad file is one line of error, never a traceback."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from rlattn.errors import RlattnError


def load_state_strict(net: nn.Module, path: Path, what: str) -> nn.Module:
    """Load ``path`` (a state dict saved by ``torch.save``) into ``net``, every key and shape."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - arbitrary bytes make the unpickler raise almost anything
        # (UnpicklingError, IndexError, KeyError, UnicodeDecodeError, ... seen on random files)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RlattnError(f"cannot read {path} as {what} weights (a torch.save state dict): {first}") from None
    if not isinstance(state, dict):
        raise RlattnError(f"{path} holds a {type(state).__name__}, not a state dict of {what} weights")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RlattnError(f"{path} does not fit {what}: {str(exc).splitlines()[0]}") from None
    return net
