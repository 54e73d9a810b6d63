"""Load each page script once.

sphinx-thebe (which Jupyter Book adds) and sphinx-togglebutton register their inline scripts on
every read phase, so the pages carried two copies and the browser's console reported
``THEBE_JS_URL`` as already declared; the duplicates are dropped before the page is written.
"""

from __future__ import annotations


def _unique(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # inline scripts come with filename None from one extension and "" from another
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _unique, priority=900)  # after the extensions that add scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
