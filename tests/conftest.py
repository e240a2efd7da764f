"""Shared fixtures: small fakes for logic tests, and one session-wide real embedder for `slow` tests."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from index import Embedder

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEEDS = SHARED / "seeds"
SAMPLES = ROOT / "samples" / "communiques"


class FakeEmbedder(Embedder):
    """Deterministic bag-of-words hashing embedder: similar words → similar vectors, no model.

    Good enough to test indexing logic (offsets, updates, filters, ranking plumbing); it knows
    nothing of meaning or of languages.
    """

    dim = 64
    fingerprint = "fake-hashing-embedder:v1"
    same_meaning_cosine = 0.5  # bag-of-words cosine: a shorter paraphrase sharing half its words scores ~0.57

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0

    def _encode(self, texts, *, is_query):
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"\w+", unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode())
            for word in words:
                h = int(hashlib.md5(word[:5].encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            out[i, len(words) % self.dim] += 0.01  # never an all-zero vector
        return out


@pytest.fixture(autouse=True)
def isolated_embedding_cache(request, tmp_path, monkeypatch):
    """Logic tests get their own cache directory; `slow` tests share the machine's (models, vectors)."""
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("PORTEPAROLE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The product's default: multilingual-e5-small on the engine this machine runs fastest."""
    from index import default_embedder

    return default_embedder()


@pytest.fixture
def seeds_dir() -> Path:
    if not SEEDS.exists():
        pytest.skip("../shared/seeds is not available")
    return SEEDS


@pytest.fixture
def sample_corpus(tmp_path) -> Path:
    """A writable copy of the bundled sample corpus."""
    import shutil

    target = tmp_path / "corpus"
    shutil.copytree(SAMPLES, target)
    return target


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


from assistant import Generator  # noqa: E402


class FakeGenerator(Generator):
    """Scripted generator for assistant logic tests: returns ``reply`` (a string or a function of the request).

    ``translation``, when given, makes it a generator that can translate (a function of the
    sentence and the target language).
    """

    name = "fake"

    def __init__(self, reply="", rewrite=None, translation=None):
        self.reply = reply
        self.rewrite = rewrite
        self.requests = []
        self.translation = translation
        self.can_translate = translation is not None

    def translate(self, sentence, language):
        return self.translation(sentence, language) if self.translation else None

    def stream(self, request):
        self.requests.append(request)
        text = self.reply(request) if callable(self.reply) else self.reply
        for word in text.split(" "):
            yield word + " "

    def warm_up(self):
        pass

    def complete(self, system, user, max_new_tokens=60):
        return self.rewrite


@pytest.fixture
def sample_index(tmp_path_factory):
    """The bundled sample corpus indexed with the fake embedder."""
    from index import ingest_paths

    target = tmp_path_factory.mktemp("sample-index")
    return ingest_paths([SAMPLES], target, embedder=FakeEmbedder(), progress=False).index


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``porteparole serve`` in a thread: the real ASGI app on a free loopback port."""

    def __init__(self, chat, access=None):
        import uvicorn

        from ui.api import Access
        from ui.server import create_server

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_server(chat, access or Access()), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.05)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


def echo_best_passage(request):
    """A fake generator that quotes the best sentence holding the type of fact asked for."""
    from assistant import holds_type

    holding = [p for p in request.passages if holds_type(p.text, request.answer_type)] or request.passages
    best = max(holding, key=lambda p: p.score)
    return f"{best.text} [{best.n}]"


def write_zip_bomb(path: Path, mebibytes: int) -> None:
    """A .docx whose one part unpacks to ``mebibytes`` MiB of zeros (a few hundred KB on disk)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/document.xml", "w") as member:
            zeros = b"\0" * (1 << 20)
            for _ in range(mebibytes):
                member.write(zeros)


def write_blank_pdf(path: Path, pages: int = 1, password: str | None = None) -> None:
    """A PDF of blank pages (no text layer), encrypted when ``password`` is given."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=100, height=100)
    if password:
        writer.encrypt(password)
    writer.write(path)


def two_writers_at_once_keep_their_documents(location: str, tmp_path: Path, writers=("cli", "upload"), rounds: int = 3) -> None:
    """Two ingests into ``location`` (a folder or a database URL) in separate processes at the
    same moment, ``rounds`` times: every document of both must be there after each round."""
    import subprocess
    import sys

    from index import Index

    script = ("import sys; sys.path[:0] = [{root!r}, {tests!r}]; from conftest import FakeEmbedder; "
              "from index import ingest_paths; ingest_paths([sys.argv[1]], sys.argv[2], embedder=FakeEmbedder(), progress=False)")
    code = script.format(root=str(ROOT), tests=str(ROOT / "tests"))
    expected = set(Index.open(location, FakeEmbedder()).documents)
    for round_ in range(rounds):
        files = []
        for writer in writers:
            path = tmp_path / f"{writer}-{round_}.txt"
            path.write_text(f"Communiqué {writer} numéro {round_}. " * 20, encoding="utf-8")
            files.append(path)
            expected.add(path.stem)
        processes = [subprocess.Popen([sys.executable, "-c", code, str(path), location]) for path in files]
        assert [process.wait(120) for process in processes] == [0] * len(writers)
        assert set(Index.open(location, FakeEmbedder()).documents) == expected
