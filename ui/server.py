"""``porteparole serve``: the chat and the JSON API on one server (one process, one port).

The Gradio chat is mounted at ``/`` on the FastAPI app of :mod:`ui.api`, so both share the
assistant, the model, the uploads and the credentials.
"""

from __future__ import annotations

import ipaddress
import threading

import gradio as gr
from fastapi import FastAPI

from assistant import Assistant
from ingest import PorteParoleError

from .api import Access, build_api
from .app import I18N, MAX_UPLOAD, ChatApp, build_app
from .render import CSS, HEAD

#: Requests the chat answers at once; more wait in Gradio's queue.
CHAT_CONCURRENCY = 4


class UnsafeServeError(PorteParoleError):
    """Serving beyond this machine without credentials, unless explicitly asked for."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_server(chat: ChatApp, access: Access = Access()) -> FastAPI:
    """The ASGI app: ``/api/...`` (JSON, OpenAPI at ``/api/docs``) and the chat at ``/``.

    Example:
        >>> import uvicorn                                                             # doctest: +SKIP
        >>> chat = ChatApp(Assistant.open("sample-index"))                             # doctest: +SKIP
        >>> uvicorn.run(create_server(chat, Access(credentials=("desk", "s3cret"))))  # doctest: +SKIP
    """
    api = build_api(chat, access)
    demo = build_app(chat)
    demo.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    return gr.mount_gradio_app(
        api, demo, path="/", auth=access.credentials, max_file_size=MAX_UPLOAD, i18n=I18N, css=CSS, head=HEAD,
        theme=gr.themes.Soft(), footer_links=[], show_error=False,
    )


def serve(location, host: str = "127.0.0.1", port: int = 7860, access: Access = Access(), generator: str = "llm",
          uploads: bool = True, allow_open: bool = False) -> None:
    """Open the index and serve the chat and the API until interrupted (the model loads in the background).

    Beyond loopback without credentials, anyone who can reach the port could read and (with
    uploads) write the index: refused unless ``allow_open`` (``--no-auth``).
    """
    import uvicorn

    # A bearer token protects the API only; the chat needs a user and password.
    if not is_loopback(host) and access.credentials is None and not allow_open:
        raise UnsafeServeError(
            f"--host {host} makes the chat reachable from other machines without a password. "
            "Set PORTEPAROLE_AUTH=user:password (or use --auth-file), or pass --no-auth if that is intended.")
    assistant = Assistant.open(location, generator=generator)
    chat = ChatApp(assistant, uploads=uploads)
    # Load the models while the page opens, so that the first questions do not pay for it.
    chat.model_status = "loading"
    threading.Thread(target=_warm_up, args=(chat,), daemon=True).start()
    app = create_server(chat, access)
    print(f"Porte-parole: http://{host}:{port}  (chat; JSON API at /api, its documentation at /api/docs)\n"
          f"  index {assistant.index.location}, generator {generator}, uploads {'on' if uploads else 'off'}, "
          + ("credentials required" if access.credentials else
             "API token required, chat open" if access.token else
             "no credentials: only this machine can connect" if is_loopback(host) else
             "no credentials: open to anyone who can connect (--no-auth)"), flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _warm_up(chat: ChatApp) -> None:
    """Retrieval first (the embedder, language detection, BM25: every question's sources need
    them), then the generator."""
    try:
        chat.assistant.index.embedder.warm_up()
        chat.assistant.retrieve("Qui a annoncé quoi ? Who announced what?")
        chat.assistant.generator.warm_up()
        chat.model_status = "ready"
    except Exception as exc:  # answers fall back to the extractive generator and say so
        chat.model_status, chat.model_error = "unavailable", str(exc)
        print(f"Porte-parole: the language model could not be loaded: {exc}", flush=True)
