"""The JSON HTTP API beside the chat: ``/api/ask`` (and its stream), ``/api/search``,
``/api/documents/{doc_id}``, ``/api/info``, ``/api/ingest``; OpenAPI at ``/api/docs``.

It answers with the same :class:`~assistant.ChatApp` state as the chat (same index, same model,
same uploads) and the JSON forms of :mod:`assistant.schema`. Every error is
``{"error": {"status": N, "message": "..."}}`` with the right status: 400 for a bad request
(empty or too long question, bad filter), 401 without valid credentials, 403 for an upload to a
read-only server, 404 for an unknown document, 503 while the language model loads.

Example (``porteparole serve --index DIR`` running)::

    curl -s localhost:7860/api/ask -H 'Content-Type: application/json' \\
         -d '{"question": "Qui a signé l\\'entente ?"}'
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Iterator, Literal

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from assistant import InvalidQuestionError
from assistant.conversation import check_question
from assistant.schema import AnswerModel, DocumentModel, SearchResultModel, TimelineModel, document_record, search_result
from index import SCHEMA_VERSION, IndexError_, InvalidQueryError, SearchFilters

from .app import MAX_UPLOAD_FILES, ChatApp

#: Largest file accepted by ``POST /api/ingest`` (as in the chat's upload box).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Seconds a client is asked to wait (``Retry-After``) while the model loads.
RETRY_AFTER_SECONDS = 15


@dataclass(frozen=True)
class Access:
    """Who may call the API: HTTP basic with ``credentials`` and/or ``Authorization: Bearer <token>``.

    With neither, the API is open (the server refuses that beyond loopback unless told so).
    """

    credentials: tuple[str, str] | None = None
    token: str | None = None

    @property
    def open(self) -> bool:
        return not (self.credentials or self.token)

    def allows(self, basic: HTTPBasicCredentials | None, bearer: HTTPAuthorizationCredentials | None) -> bool:
        if self.open:
            return True
        if self.token and bearer is not None and secrets.compare_digest(bearer.credentials.encode(), self.token.encode()):
            return True
        if self.credentials and basic is not None:
            user, password = self.credentials
            # Both compared every time: the time taken says nothing about which one was wrong.
            same_user = secrets.compare_digest(basic.username.encode(), user.encode())
            same_password = secrets.compare_digest(basic.password.encode(), password.encode())
            return same_user and same_password
        return False


# ----------------------------------------------------------------------------- request bodies
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filters(_Request):
    since: str | None = Field(None, description="only sources dated on or after (2021-01-31, 2021-01 or 2021)")
    until: str | None = Field(None, description="only sources dated on or before")
    issuer: list[str] = Field(default_factory=list, description="only sources whose issuer contains one of these")
    lang: list[Literal["fr", "en"]] = Field(default_factory=list, description="only sources in these languages")

    def to_search_filters(self) -> SearchFilters:
        return SearchFilters(since=self.since or None, until=self.until or None, issuer=tuple(self.issuer), lang=tuple(self.lang))


class Turn(_Request):
    question: str
    answer: str


class AskRequest(_Request):
    question: str = Field(description="in French or English; answered in its language")
    history: list[Turn] = Field(default_factory=list, description="earlier turns, oldest first, for follow-up questions")
    filters: Filters = Field(default_factory=Filters)
    generator: Literal["llm", "extractive"] | None = Field(None, description="default: the server's")
    today: date | None = Field(None, description="the date relative expressions are read against (\"last year\", "
                                                 "\"l'an dernier\"); default: the server's date")
    question_dates: bool = Field(True, description="rank the releases of the question's own period first "
                                                   "(\"in 2019\", \"the latest ...\"); false turns it off")
    newer_values: bool = Field(True, description="list in `updates` the cited figures that a newer release of the same "
                                                 "issuer, or another cited source, gives otherwise; false skips the check")


class TimelineRequest(_Request):
    subject: str = Field(description="in French or English, e.g. \"producer and import price index\"")
    filters: Filters = Field(default_factory=Filters)


class SearchRequest(_Request):
    query: str
    k: int = Field(10, ge=1, le=100)
    filters: Filters = Field(default_factory=Filters)
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"
    documents: bool = Field(False, description="one result per document (its best passage)")
    releases: bool = Field(False, description="a release published in several languages counts once: its passages come "
                                              "from the version in the query's language (hits list the other versions)")


# ----------------------------------------------------------------------------- the app
def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


def _history(turns: list[Turn]) -> list[tuple[str, str]]:
    # Kept to the last turns, each cut, by assistant.conversation.normalise_history.
    return [(t.question, t.answer) for t in turns]


def _package_version() -> str:
    try:
        return version("porteparole")
    except PackageNotFoundError:
        return "unknown"


def build_api(chat: ChatApp, access: Access = Access()) -> FastAPI:
    """The FastAPI app with the ``/api`` routes; :func:`ui.server.create_server` mounts the chat on it."""
    api = FastAPI(
        title="Porte-parole API",
        version=_package_version(),
        description="Questions on press releases (French/English), answered with verified citations. "
                    f"JSON schema version {SCHEMA_VERSION}.",
        docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
    )
    basic_scheme, bearer_scheme = HTTPBasic(auto_error=False), HTTPBearer(auto_error=False)

    def authorised(basic: HTTPBasicCredentials | None = Depends(basic_scheme),
                   bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> str:
        """The caller's name (recorded with uploads), or 401."""
        if not access.allows(basic, bearer):
            raise HTTPException(401, "valid credentials are required (HTTP basic, or Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": 'Basic realm="porteparole"'})
        if access.open:
            return "api"
        return basic.username if basic is not None and access.credentials else "api token"

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(part) for part in err['loc'] if part != 'body') or 'body'}: {err['msg']}"
                             for err in exc.errors())
        return _error(400, f"bad request: {problems}")

    @api.exception_handler(InvalidQuestionError)
    @api.exception_handler(InvalidQueryError)
    async def invalid_question(request: Request, exc: Exception):
        return _error(400, str(exc))

    @api.exception_handler(IndexError_)
    async def index_error(request: Request, exc: Exception):
        return _error(503, f"the index cannot be used: {exc}")

    def ready_assistant(generator: str | None):
        """The assistant for ``generator``, or 503 while the language model is still loading."""
        assistant = chat.assistant_for(generator)
        if assistant is chat.assistant and chat.model_status == "loading":
            raise HTTPException(503, "the models are loading (a few seconds, up to a minute for the language "
                                     'model); retry shortly, or ask with "generator": "extractive"',
                                headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return assistant

    def prepare(body: AskRequest):
        """Everything that can be wrong with a question is found before any answering starts."""
        question = check_question(body.question)
        options = {"today": body.today, "question_dates": body.question_dates, "newer_values": body.newer_values}
        return ready_assistant(body.generator), question, _history(body.history), body.filters.to_search_filters(), options

    @api.get("/api/info", dependencies=[Depends(authorised)], tags=["index"])
    def info() -> dict:
        """What the server holds: index counts, languages, dates, issuers, model, and whether uploads are on."""
        chat.follow_index()
        details = chat.assistant.index.info()
        details["metadata_to_check"] = len(details["metadata_to_check"])
        return {
            "schema_version": SCHEMA_VERSION, "version": _package_version(),
            "generator": {"name": chat.assistant.generator.name, "status": chat.model_status, "error": chat.model_error,
                          "answers_at_once": chat.assistant.generator.answers_at_once},
            "uploads": chat.uploads, "index": details,
        }

    @api.post("/api/ask", dependencies=[Depends(authorised)], response_model=AnswerModel, tags=["answers"])
    def ask(body: AskRequest) -> dict:
        """Answer a question with verified citations, or say that the sources do not answer it (``refused``)."""
        assistant, question, history, filters, options = prepare(body)
        return assistant.ask(question, history=history, filters=filters, **options).to_dict()

    @api.post("/api/ask/stream", dependencies=[Depends(authorised)], tags=["answers"],
              response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "server-sent events: `sources` (hits, at once), `text` (draft pieces, "
                                              "unchecked), then `answer` (the verified answer, as /api/ask), or `error`"}})
    def ask_stream(body: AskRequest) -> StreamingResponse:
        """The same answer streamed: the sources first, the draft as it is generated, then the verified answer."""
        assistant, question, history, filters, options = prepare(body)

        def events() -> Iterator[str]:
            try:
                for event in assistant.ask_stream(question, history=history, filters=filters, **options):
                    if event.kind == "sources":
                        data = {"schema_version": SCHEMA_VERSION, "hits": [hit.to_dict() for hit in event.hits]}
                    elif event.kind == "text":
                        data = {"text": event.text}
                    else:
                        data = event.answer.to_dict()
                    yield f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
            except Exception as exc:  # the status line is sent already: the error becomes the last event
                error = {"error": {"status": 500, "message": f"{type(exc).__name__}: {exc}"}}
                yield f"event: error\ndata: {json.dumps(error, ensure_ascii=False)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @api.post("/api/search", dependencies=[Depends(authorised)], response_model=SearchResultModel, tags=["index"])
    def search(body: SearchRequest) -> dict:
        """Passages for a question or keywords, best first (hybrid dense + BM25; cross-lingual)."""
        chat.follow_index()
        hits = chat.assistant.index.search(body.query, k=body.k, filters=body.filters.to_search_filters(),
                                           mode=body.mode, per_document=body.documents, per_release=body.releases)
        return search_result(body.query, hits)

    @api.post("/api/timeline", dependencies=[Depends(authorised)], response_model=TimelineModel, tags=["answers"])
    def timeline(body: TimelineRequest) -> dict:
        """The releases about a subject in date order, each with its most relevant sentence (no model is asked)."""
        chat.follow_index()
        return chat.assistant.timeline(body.subject, filters=body.filters.to_search_filters()).to_dict()

    @api.get("/api/documents/{doc_id:path}", dependencies=[Depends(authorised)], response_model=DocumentModel, tags=["index"])
    def document(doc_id: str) -> dict:
        """One document: metadata (with how each field was found) and its full text."""
        chat.follow_index()
        found = chat.assistant.index.documents.get(doc_id)
        if found is None:
            raise HTTPException(404, f"no document with doc_id {doc_id!r}")
        return document_record(found)

    @api.post("/api/ingest", tags=["index"])
    def ingest(files: list[UploadFile] = File(..., description=f"up to {MAX_UPLOAD_FILES} files, 20 MB each"),
               caller: str = Depends(authorised)) -> dict:
        """Add communiqués (.txt .md .html .pdf .docx .jsonl) to the index; one result per file."""
        if not chat.uploads:
            raise HTTPException(403, "uploads are turned off on this server (--read-only)")
        with tempfile.TemporaryDirectory(prefix="porteparole-upload-") as folder:
            paths, too_big = [], []
            for upload in files:
                name = Path(upload.filename or "upload").name or "upload"
                path = Path(folder) / name
                with path.open("wb") as out:
                    copied = 0
                    while chunk := upload.file.read(1 << 20):
                        copied += len(chunk)
                        if copied > MAX_UPLOAD_BYTES:
                            break
                        out.write(chunk)
                if copied > MAX_UPLOAD_BYTES:
                    too_big.append({"file": name, "doc_id": "", "status": "refused", "reason": "larger than 20 MB"})
                    path.unlink()
                else:
                    paths.append(path)
            rows = chat.ingest_files(paths, added_by=caller) if paths else []
        return {"schema_version": SCHEMA_VERSION, "files": rows + too_big,
                "documents": len(chat.assistant.index.documents)}

    return api


def basic_auth_header(user: str, password: str) -> str:
    """``Authorization`` header value for HTTP basic (for clients and tests)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


__all__ = ["Access", "build_api", "basic_auth_header", "MAX_UPLOAD_BYTES"]