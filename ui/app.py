"""The Gradio chat over the same :class:`~assistant.Assistant` the Python API and CLI use.

Started by ``porteparole serve --index DIR`` (or ``python3 dev.py chat``). Labels follow the
browser's language (French or English); answers follow the question's language.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from assistant import Assistant, InvalidQuestionError
from index import Index, IndexError_, SearchFilters, ingest_paths
from ingest import SUPPORTED_SUFFIXES, detect_language

from .render import answer_markdown, as_plain_text, draft_markdown, sources_panel, timeline_panel

MAX_UPLOAD = "20mb"
#: Questions whose sources are looked up at once (retrieval takes tens of milliseconds).
SOURCES_CONCURRENCY = 32
#: How long, at most, an answer waits for other users' sources to be found before it starts.
SOURCES_FIRST_WAIT = 3.0
MAX_UPLOAD_FILES = 50


class SourcesFirst:
    """Lets every user's sources be found before an answer starts taking the CPU.

    On 2 cores, an answer being written (sentences embedded, the model reading its prompt) halves
    the speed of the lookups that arrive meanwhile; a question's sources are what its user waits
    for first. An answer therefore starts once no lookup is running, or after ``most`` seconds
    (a steady stream of questions cannot hold answers back for longer; a follow-up question's
    rewrite by the model counts as part of its lookup).

    Example:
        >>> gate = SourcesFirst()
        >>> with gate.looking_up():
        ...     pass
        >>> gate.wait_for_sources(most=0.1)
        True
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0

    @contextmanager
    def looking_up(self):
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def wait_for_sources(self, most: float = SOURCES_FIRST_WAIT) -> bool:
        """Wait until no lookup is running (True) or ``most`` seconds have passed (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running == 0, timeout=most)


I18N = gr.I18n(
    en={
        "title": "Porte-parole — questions on press releases",
        "subtitle": "Ask in French or English. Every claim links to the exact passage of the communiqué it comes from; check them before you publish.",
        "ask": "Your question", "ask_placeholder": "e.g. Who signed the agreement between Toulouse and Montréal?",
        "send": "Ask", "clear": "New conversation", "chat": "Conversation", "sources": "Sources",
        "copy": "Answer with sources (plain text, ready to paste)", "filters": "Filter the sources",
        "since": "From (YYYY-MM-DD)", "until": "To (YYYY-MM-DD)", "issuer": "Issuer", "lang": "Language of sources",
        "question_dates": "Use the dates in the question (\"in 2019\", \"the latest\"): their releases come first",
        "tab_chat": "Chat", "tab_index": "Index", "upload": "Add communiqués (.txt .md .html .pdf .docx .jsonl, 20 MB max each)",
        "ingest": "Add to the index", "ingest_result": "Result", "examples": "Examples",
        "tab_timeline": "Timeline", "timeline_subject": "Subject",
        "timeline_placeholder": "e.g. night buses in Northbay; the releases about it, oldest first",
        "timeline_download": "Timeline as Markdown, with its sources",
    },
    fr={
        "title": "Porte-parole — questions sur les communiqués",
        "subtitle": "Posez vos questions en français ou en anglais. Chaque affirmation renvoie au passage exact du communiqué ; vérifiez avant de publier.",
        "ask": "Votre question", "ask_placeholder": "ex. : Qui a signé l'entente entre Toulouse et Montréal ?",
        "send": "Demander", "clear": "Nouvelle conversation", "chat": "Conversation", "sources": "Sources",
        "copy": "Réponse avec sources (texte brut, prêt à coller)", "filters": "Filtrer les sources",
        "since": "Du (AAAA-MM-JJ)", "until": "Au (AAAA-MM-JJ)", "issuer": "Émetteur", "lang": "Langue des sources",
        "question_dates": "Tenir compte des dates de la question (« en 2019 », « le plus récent ») : leurs communiqués d'abord",
        "tab_chat": "Discussion", "tab_index": "Index", "upload": "Ajouter des communiqués (.txt .md .html .pdf .docx .jsonl, 20 Mo max chacun)",
        "ingest": "Ajouter à l'index", "ingest_result": "Résultat", "examples": "Exemples",
        "tab_timeline": "Chronologie", "timeline_subject": "Sujet",
        "timeline_placeholder": "ex. : bus de nuit à Northbay ; les communiqués sur ce sujet, du plus ancien au plus récent",
        "timeline_download": "Chronologie en Markdown, avec ses sources",
    },
)

EXAMPLES = [
    "Qui a signé l'entente de coopération entre Toulouse et Montréal ?",
    "How many people does the aerospace industry employ in Quebec?",
    "Combien coûte un billet de bus de nuit à Northbay ?",
    "When will the renovation of Riverton's Central Library start?",
    "How many passengers did Valmont airport handle in 2024?",  # shows "a newer communiqué says otherwise"
]


def _cell(text: str, inferred: bool = False) -> str:
    """Document text for a Markdown table cell: Markdown and HTML from documents are shown as text."""
    text = as_plain_text((text or "—").replace("\n", " ")).replace("|", "\\|")
    return f"{text} *(?)*" if inferred and text != "—" else text


def index_summary(index: Index, max_documents: int = 200) -> str:
    """What is indexed: counts, date range, issuers, and the most recent documents (Markdown)."""
    info = index.info()
    dates = info["date_range"]
    lines = [
        f"**{info['documents']}** documents · **{info['chunks']}** passages · "
        + ", ".join(f"{lang}: {count}" for lang, count in info["languages"].items())
        + (f" · **{info['releases_linked']}** releases in two languages / communiqués bilingues" if info["releases_linked"] else ""),
        "",
        f"Dates: {dates[0]} … {dates[1]}" if dates else "Dates: —",
        "",
        "| Issuer / Émetteur | Documents |",
        "|---|---|",
    ]
    lines += [f"| {_cell(issuer)} | {count} |" for issuer, count in list(info["issuers"].items())[:25]]
    recent = sorted(index.documents.values(), key=lambda d: (d.date or "", d.doc_id), reverse=True)[:max_documents]
    lines += ["", "| Date | Title / Titre | Issuer / Émetteur | Lang. | ID | Added by / Ajouté par |", "|---|---|---|---|---|---|"]
    lines += [f"| {_cell(d.date)} | {_cell(d.title, d.is_inferred('title'))} | {_cell(d.issuer, d.is_inferred('issuer'))} "
              f"| {d.lang or '?'} | {_cell(d.doc_id)} | {_cell(f'{d.added_by}, {d.added_at[:10]}' if d.added_by else '')} |"
              for d in recent]
    lines += ["", "*(?)*: inferred from the text, the import option or the folder; check it "
                  "(`porteparole info`) / déduit, à vérifier."]
    return "\n".join(lines)


class ChatApp:
    """What the chat and the HTTP API share: the assistant(s), the model's state, uploads.

    The index can be swapped after an upload while chats continue. ``model_status`` is
    ``"loading"`` while the server preloads the language model, then ``"ready"`` (or
    ``"unavailable"``: answers then come from the extractive generator).
    """

    def __init__(self, assistant: Assistant, *, uploads: bool = True) -> None:
        self.assistant = assistant
        self.uploads = uploads
        self.model_status = "ready"
        self.model_error = ""
        self._extractive: Assistant | None = None
        self._reload_lock = threading.Lock()
        self._timeline_dir: Path | None = None
        self._followed_at = time.monotonic()
        self.sources_first = SourcesFirst()

    #: How often, at most, a question checks whether another process wrote to the index (seconds).
    FOLLOW_EVERY = 2.0

    def follow_index(self) -> None:
        """Take in what another process wrote to the index since (another server's upload, the
        night's ingest): one small read of the generation, at most every :attr:`FOLLOW_EVERY` s."""
        now = time.monotonic()
        if now - self._followed_at < self.FOLLOW_EVERY or not self._reload_lock.acquire(blocking=False):
            return  # checked a moment ago, or an upload here is swapping the index in right now
        try:
            self._followed_at = now
            newer = self.assistant.index.newer()
            if newer is not None:
                self.swap_index(newer)
        except IndexError_ as exc:  # keep answering from the generation in memory
            print(f"porteparole: warning: could not load the index's new version: {exc}", file=sys.stderr)
        finally:
            self._reload_lock.release()

    def assistant_for(self, generator: str | None) -> Assistant:
        """The assistant answering with ``generator`` (``None``: the server's own)."""
        self.follow_index()
        if generator in (None, self.assistant.generator.name):
            return self.assistant
        if generator != "extractive":
            raise InvalidQuestionError(f"unknown generator {generator!r}: this server answers with "
                                       f"{self.assistant.generator.name!r} or 'extractive'")
        if self._extractive is None:
            self._extractive = Assistant(self.assistant.index, "extractive")
        return self._extractive

    def swap_index(self, index: Index) -> None:
        for assistant in (self.assistant, self._extractive):
            if assistant is not None:
                assistant.index = index

    def issuers(self) -> list[str]:
        return sorted({doc.issuer for doc in self.assistant.index.documents.values() if doc.issuer})

    def find_sources(self, message, history, since, until, issuers, langs, question_dates=True):
        """First event of a question: show it and its sources at once (never queued behind answers).

        Yields chat history, sources panel, copy box, question box and the state that
        :meth:`write_answer` continues from (``None`` when there is nothing to answer).
        """
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            yield history, gr.skip(), gr.skip(), gr.skip(), None
            return
        self.follow_index()
        lang = detect_language(message)[0] or "en"
        turn = sum(1 for item in history if item.get("role") == "user") + 1
        history.append({"role": "user", "content": message})
        history.append({"role": "assistant", "content": "…"})
        yield history, sources_panel(lang, turn=turn), "", "", None
        try:
            filters = SearchFilters(since=since or None, until=until or None, issuer=tuple(issuers or ()), lang=tuple(langs or ()))
            with self.sources_first.looking_up():
                retrieved = self.assistant.retrieve(message, history=history[:-2], filters=filters,
                                                    question_dates=bool(question_dates))
        except (InvalidQuestionError, IndexError_) as exc:
            history[-1] = {"role": "assistant", "content": f"⚠️ {as_plain_text(str(exc))}"}
            yield history, sources_panel(lang, [], turn=turn), "", "", None
            return
        yield (history, sources_panel(lang, retrieved.hits, turn=turn, scope=retrieved.time_scope), "", "",
               {"retrieved": retrieved, "turn": turn})

    def timeline(self, subject):
        """The Timeline tab: the releases about ``subject`` in date order, and the same as a Markdown file."""
        subject = (subject or "").strip()
        if not subject:
            return gr.skip(), gr.skip()
        self.follow_index()
        try:
            timeline = self.assistant.timeline(subject)
        except (InvalidQuestionError, IndexError_) as exc:
            return f'<p class="pp-empty">⚠️ {html.escape(str(exc))}</p>', None
        # One folder per server, one file per distinct timeline (named by its content): asking
        # again does not pile up files.
        if self._timeline_dir is None:
            self._timeline_dir = Path(tempfile.mkdtemp(prefix="porteparole-timeline-"))
        markdown = timeline.to_markdown()
        digest = hashlib.sha256(markdown.encode("utf-8")).hexdigest()[:8]
        path = self._timeline_dir / digest / (re.sub(r"[^\w-]+", "-", subject.casefold()).strip("-")[:60] + ".md")
        path.parent.mkdir(exist_ok=True)
        path.write_text(markdown, encoding="utf-8")
        return timeline_panel(timeline), str(path)

    def write_answer(self, history, pending):
        """Second event: the draft as it is generated, then the verified answer and its cards."""
        if not pending:
            yield gr.skip(), gr.skip(), gr.skip(), None
            return
        history, draft = list(history), ""
        retrieved, turn = pending["retrieved"], pending["turn"]
        self.sources_first.wait_for_sources()
        for event in self.assistant.answer_stream(retrieved):
            if event.kind == "text":
                draft += event.text
                history[-1] = {"role": "assistant", "content": draft_markdown(draft, retrieved.turn.language)}
                yield history, gr.skip(), gr.skip(), gr.skip()
            elif event.kind == "answer":
                answer = event.answer
                history[-1] = {"role": "assistant", "content": answer_markdown(answer)}
                # The documents the answer was made from, not the index's current ones
                # (an upload may have replaced them meanwhile): offsets stay true.
                documents = {hit.doc_id: hit.document for hit in answer.hits}
                # The state is emptied: it would otherwise keep this index generation in memory.
                panel = sources_panel(answer.language, answer.hits, answer, documents, turn=turn, scope=retrieved.time_scope)
                yield history, panel, answer.with_sources(), None

    def ingest_files(self, files: list[Path], progress=None, added_by: str = "") -> list[dict]:
        """Copy files next to the index (so their source paths last), ingest them, swap the index in.

        Each file is kept under a folder named by a hash of its content: an upload never replaces
        another document that has the same file name (it gets its own doc_id, ``name~hash``),
        and the same file uploaded twice is recognised as unchanged. ``added_by`` and the time
        are recorded in the documents.

        Returns one ``{"file", "doc_id", "status", "reason"}`` per file: status is added,
        unchanged, skipped (unreadable, with the reason) or refused (type not allowed).
        """
        if not self.uploads:
            raise PermissionError("uploads are turned off on this server (--read-only)")
        target = self.assistant.index.store.uploads_dir
        rows, kept = [], []
        for i, path in enumerate(files[:MAX_UPLOAD_FILES]):
            if progress is not None:
                progress((i, len(files)), desc="Reading / Lecture")
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                rows.append({"file": path.name, "doc_id": "", "status": "refused", "reason": "type not allowed"})
                continue
            folder = target / hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            folder.mkdir(parents=True, exist_ok=True)
            destination = folder / path.name
            shutil.copyfile(path, destination)
            kept.append(destination)
        if kept:
            if progress is not None:
                progress((len(files), len(files)), desc="Indexing / Indexation")
            with self._reload_lock:
                result = ingest_paths(kept, self.assistant.index.store, embedder=self.assistant.index.embedder,
                                      progress=False, added_by=added_by or "anonymous")
                self.swap_index(result.index)
            rows += [self._upload_row(path, result) for path in kept]
        rows += [{"file": path.name, "doc_id": "", "status": "refused", "reason": f"more than {MAX_UPLOAD_FILES} files at once"}
                 for path in files[MAX_UPLOAD_FILES:]]
        return rows

    @staticmethod
    def _upload_row(path: Path, result) -> dict:
        """One file's outcome; a JSONL file holds several documents (and maybe bad lines)."""
        source = str(path.resolve())
        ids = [result.update.renamed.get(doc.doc_id, doc.doc_id) for doc in result.read.documents if doc.source == source]
        problems = [p.reason for p in result.read.problems if p.source.split(":")[0] in (str(path), source)]
        cuts = [cut.reason for cut in result.read.cuts if cut.source in ids]
        added = set(result.update.added) | set(result.update.updated)
        if not ids:
            return {"file": path.name, "doc_id": "", "status": "skipped", "reason": problems[0] if problems else "no document"}
        notes = cuts + ([f"{len(problems)} line(s) skipped: {problems[0]}"] if problems else [])
        if len(ids) > 1:
            notes.insert(0, f"{len(ids)} documents")
        return {"file": path.name, "doc_id": ", ".join(ids[:5]) + (" …" if len(ids) > 5 else ""),
                "status": "added" if added & set(ids) else "unchanged", "reason": "; ".join(notes)}

    def upload(self, files, request: gr.Request, progress=gr.Progress()):
        """The Index tab's button: ingest the uploaded files and show one line per file."""
        if not files:
            return "No file. / Aucun fichier.", index_summary(self.assistant.index), gr.update()
        paths = [Path(file if isinstance(file, str) else file.name) for file in files]
        words = {"added": "added / ajouté", "unchanged": "unchanged / inchangé", "skipped": "skipped", "refused": "refused"}
        table = ["| File / Fichier | ID | Result / Résultat |", "|---|---|---|"]
        user = (getattr(request, "username", None) or "chat") if request is not None else "chat"
        for row in self.ingest_files(paths, progress, added_by=user):
            reason = f": {row['reason']}" if row["reason"] else ""
            table.append(f"| {_cell(row['file'])} | {_cell(row['doc_id'])} | {words[row['status']]}"
                         f"{_cell(reason) if reason else ''} |")
        return "\n".join(table), index_summary(self.assistant.index), gr.update(choices=self.issuers())


def build_app(assistant: Assistant | ChatApp) -> gr.Blocks:
    """The Gradio Blocks of the chat (Chat, Timeline and Index tabs) over ``assistant`` or a :class:`ChatApp`."""
    app = assistant if isinstance(assistant, ChatApp) else ChatApp(assistant)
    assistant = app.assistant
    with gr.Blocks(title="Porte-parole", fill_width=True) as demo:
        gr.Markdown(f"## {I18N('title')}", elem_id="pp-title")
        gr.Markdown(I18N("subtitle"))
        with gr.Tab(I18N("tab_chat")):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=320):
                    chatbot = gr.Chatbot(label=I18N("chat"), height=460, elem_id="pp-chat", buttons=["copy"],
                                         sanitize_html=True, placeholder="Porte-parole")
                    question = gr.Textbox(label=I18N("ask"), placeholder=I18N("ask_placeholder"), lines=1, max_length=1000,
                                          elem_id="pp-question", submit_btn=True)
                    gr.Examples(EXAMPLES, inputs=question, label=I18N("examples"))
                    with gr.Accordion(I18N("filters"), open=False, elem_id="pp-filters"):
                        with gr.Row():
                            since = gr.Textbox(label=I18N("since"), elem_id="pp-since", max_length=10)
                            until = gr.Textbox(label=I18N("until"), elem_id="pp-until", max_length=10)
                        issuers = gr.Dropdown(choices=app.issuers(), multiselect=True, label=I18N("issuer"), elem_id="pp-issuer")
                        langs = gr.CheckboxGroup(choices=[("Français", "fr"), ("English", "en")], label=I18N("lang"), elem_id="pp-langs")
                        question_dates = gr.Checkbox(value=True, label=I18N("question_dates"), elem_id="pp-question-dates")
                    copy_box = gr.Textbox(label=I18N("copy"), lines=4, interactive=False, buttons=["copy"], elem_id="pp-copy")
                    clear = gr.Button(I18N("clear"), variant="secondary", size="sm")
                with gr.Column(scale=2, min_width=300):
                    sources = gr.HTML(label=I18N("sources"), elem_id="pp-sources", value="")
        with gr.Tab(I18N("tab_timeline")):
            subject = gr.Textbox(label=I18N("timeline_subject"), placeholder=I18N("timeline_placeholder"), lines=1,
                                 max_length=500, elem_id="pp-timeline-subject", submit_btn=True)
            timeline_view = gr.HTML(elem_id="pp-timeline", value="")
            timeline_file = gr.File(label=I18N("timeline_download"), elem_id="pp-timeline-md", interactive=False)
        with gr.Tab(I18N("tab_index")):
            summary = gr.Markdown(index_summary(assistant.index), elem_id="pp-index-summary")
            files = gr.File(label=I18N("upload"), file_count="multiple", file_types=list(SUPPORTED_SUFFIXES), elem_id="pp-upload",
                            visible=app.uploads)
            ingest_button = gr.Button(I18N("ingest"), variant="primary", elem_id="pp-ingest", visible=app.uploads)
            result = gr.Markdown(elem_id="pp-ingest-result")

        pending = gr.State(None, time_to_live=900)  # a question's sources, until its answer is written
        inputs = [question, chatbot, since, until, issuers, langs, question_dates]
        # Two events: sources for every user at once, then answers, as many at once as the generator writes together.
        question.submit(app.find_sources, inputs, [chatbot, sources, copy_box, question, pending],
                        concurrency_limit=SOURCES_CONCURRENCY).then(
            app.write_answer, [chatbot, pending], [chatbot, sources, copy_box, pending], concurrency_limit=app.assistant.generator.answers_at_once)
        clear.click(lambda: ([], "", "", "", None), None, [chatbot, sources, copy_box, question, pending])
        ingest_button.click(app.upload, files, [result, summary, issuers], concurrency_limit=1)
        subject.submit(app.timeline, subject, [timeline_view, timeline_file], concurrency_limit=SOURCES_CONCURRENCY)
    demo.chat_app = app
    return demo
