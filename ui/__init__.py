"""What people use: the ``porteparole`` CLI (:mod:`ui.cli`), the Gradio chat (:mod:`ui.app`), the JSON
HTTP API (:mod:`ui.api`) and the server that runs the last two on one port (:mod:`ui.server`).

Example:
    >>> from ui.server import serve
    >>> serve("sample-index", generator="extractive")   # doctest: +SKIP
"""
