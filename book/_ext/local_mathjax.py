"""Serve MathJax from the built book itself, so that equations render without a network.

The MathJax 2 files come from the ``jupyter-server-mathjax`` package (a dev dependency); they are
copied to ``_static/mathjax`` and every page loads them from there instead of a CDN.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)
TARGET = "mathjax"  # under _static
CONFIG = "TeX-AMS-MML_HTMLorMML-full"


def _source() -> Path | None:
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    return static if (static / "MathJax.js").is_file() else None


def _configure(app, config) -> None:
    if _source() is None:
        logger.info("jupyter-server-mathjax is not installed: equations load MathJax from its CDN")
        return
    config.mathjax_path = f"{TARGET}/MathJax.js?config={CONFIG}"
    config.mathjax3_config = None
    # Sphinx writes inline math as \( \) and display math as \[ \] inside elements of class "math";
    # MyST marks the rest of a page as ignored (tex2jax_ignore), so those classes must be processed.
    config.mathjax2_config = {
        "tex2jax": {
            "inlineMath": [["\\(", "\\)"]],
            "displayMath": [["\\[", "\\]"]],
            "processEscapes": True,
            "ignoreClass": "tex2jax_ignore|mathjax_ignore",
            "processClass": "tex2jax_process|mathjax_process|math|output_area",
        }
    }
    config.myst_update_mathjax = False  # MyST's MathJax 3 settings would be read by MathJax 2 as its own


def _copy(app, exception) -> None:
    source = _source()
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    if not (target / "MathJax.js").is_file():
        shutil.copytree(source, target, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _configure, priority=900)  # after jupyter-book's own settings
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
