"""Chunking offsets, incremental updates, atomic writes, filters and errors (index/), with a fake embedder."""

from __future__ import annotations

import json
import random

import pytest

from ingest import Document, read_documents
from index import (
    EmbedderMismatchError,
    Index,
    IndexCorruptError,
    IndexNotFoundError,
    InvalidQueryError,
    SearchFilters,
    chunk_document,
    ingest_paths,
)


def test_chunk_offsets_on_seeds(seeds_dir):
    for doc in read_documents([seeds_dir]).documents:
        chunks = chunk_document(doc)
        assert len(chunks) >= 2
        for chunk in chunks:
            assert doc.text[chunk.char_start:chunk.char_end] == chunk.text
            assert len(chunk.text) <= 800 + 200
        # The headline never stands alone as a chunk.
        assert all(len(chunk.text) >= 200 for chunk in chunks)


def test_chunk_offsets_random_texts():
    rng = random.Random(7)
    words = ["Toulouse", "et", "Montréal", "signent", "une", "entente.", "Le", "maire", "a", "déclaré", "«", "»", "\n\n", "\n"]
    for trial in range(30):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 900))).strip() or "x"
        doc = Document(doc_id=f"d{trial}", text=text, title="Un titre")
        chunks = chunk_document(doc)
        assert chunks, text
        for chunk in chunks:
            assert doc.text[chunk.char_start:chunk.char_end] == chunk.text
            assert chunk.embed_text.startswith("Un titre\n")
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.char_start, chunk.char_end))
        assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_ingest_is_incremental(sample_corpus, tmp_path, fake_embedder):
    index_dir = tmp_path / "idx"
    first = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    assert len(first.update.added) == 7 and first.update.chunks_embedded > 0
    embedded = fake_embedder.texts_embedded

    again = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    assert sorted(again.update.unchanged) == sorted(first.update.added)
    assert fake_embedder.texts_embedded == embedded, "unchanged files must cost no embedding"
    assert not again.update.written

    # A changed file replaces its chunks; only the changed passages are embedded again.
    target = sample_corpus / "northbay-night-buses.md"
    target.write_text(target.read_text(encoding="utf-8").replace("every 30 minutes", "every 20 minutes"), encoding="utf-8")
    changed = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    assert changed.update.updated == ["northbay-night-buses"]
    assert 0 < changed.update.chunks_embedded < first.update.chunks_embedded
    idx = Index.open(index_dir, fake_embedder)
    texts = [c.text for c in idx.chunks if c.doc_id == "northbay-night-buses"]
    assert any("every 20 minutes" in t for t in texts) and not any("every 30 minutes" in t for t in texts)

    # --prune removes documents whose file is gone; without it they stay.
    target.unlink()
    kept = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    assert "northbay-night-buses" in kept.index.documents
    pruned = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False, prune=True)
    assert pruned.update.removed == ["northbay-night-buses"]
    idx = Index.open(index_dir, fake_embedder)
    assert "northbay-night-buses" not in idx.documents
    assert all(c.doc_id != "northbay-night-buses" for c in idx.chunks)


def test_same_stem_in_two_folders_gets_unique_ids(tmp_path, fake_embedder):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "cp.txt").write_text(f"Communiqué du dossier {folder}, texte différent.", encoding="utf-8")
    result = ingest_paths([tmp_path / "a", tmp_path / "b"], tmp_path / "idx", embedder=fake_embedder, progress=False)
    assert len(result.index.documents) == 2
    assert "cp" in result.index.documents and list(result.update.renamed) == ["cp"]
    again = ingest_paths([tmp_path / "a", tmp_path / "b"], tmp_path / "idx", embedder=fake_embedder, progress=False)
    assert len(again.update.unchanged) == 2 and not again.update.added


def test_crash_mid_write_keeps_previous_index(sample_corpus, tmp_path, fake_embedder, monkeypatch):
    import faiss

    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    before = Index.open(index_dir, fake_embedder)
    manifest_before = (index_dir / "manifest.json").read_text()

    (sample_corpus / "new.txt").write_text("Nouveau communiqué : la ville ouvre une piscine le 3 juin 2024.", encoding="utf-8")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # A context of its own: undoing the whole fixture would also undo the test's private cache dir.
    with monkeypatch.context() as patch:
        patch.setattr(faiss, "write_index", disk_full)
        with pytest.raises(OSError):
            ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)

    assert (index_dir / "manifest.json").read_text() == manifest_before
    after = Index.open(index_dir, fake_embedder)
    assert after.documents.keys() == before.documents.keys()
    assert [p.name for p in index_dir.iterdir() if p.name.startswith((".staging", "gen-"))] == [before.manifest["generation"]]
    # The next ingest succeeds, and reuses the vectors computed before the crash (embedding cache).
    embedded_before = fake_embedder.texts_embedded
    result = ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    assert result.update.added == ["new"] and result.update.chunks_reused >= 1
    assert fake_embedder.texts_embedded == embedded_before


def test_corrupt_and_missing_index_errors(sample_corpus, tmp_path, fake_embedder):
    with pytest.raises(IndexNotFoundError, match="porteparole ingest"):
        Index.open(tmp_path / "nowhere", fake_embedder)
    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    generation = json.loads((index_dir / "manifest.json").read_text())["generation"]
    chunks_file = index_dir / generation / "chunks.jsonl"
    lines = chunks_file.read_text().splitlines()
    chunks_file.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        Index.open(index_dir, fake_embedder)
    (index_dir / "manifest.json").write_text("{ truncated")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        Index.open(index_dir, fake_embedder)


def test_embedder_mismatch_is_refused(sample_corpus, tmp_path, fake_embedder):
    ingest_paths([sample_corpus], tmp_path / "idx", embedder=fake_embedder, progress=False)

    class OtherEmbedder(type(fake_embedder)):
        fingerprint = "another-model"

    with pytest.raises(EmbedderMismatchError, match="fake-hashing-embedder"):
        Index.open(tmp_path / "idx", OtherEmbedder())


def test_search_filters_and_validation(sample_corpus, tmp_path, fake_embedder):
    idx = ingest_paths([sample_corpus], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    hits = idx.search("night bus network Northbay", k=3)
    assert hits[0].doc_id == "northbay-night-buses"
    assert [h.rank for h in hits] == [1, 2, 3]
    assert all(h.chunk.text == h.document.text[h.chunk.char_start:h.chunk.char_end] for h in hits)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))

    only_fr = idx.search("night bus network Northbay", k=10, filters=SearchFilters(lang=("fr",)))
    assert only_fr and all(h.document.lang == "fr" for h in only_fr)
    dated = idx.search("entente", k=10, filters=SearchFilters(since="2024-01-01"))
    assert dated and all(h.document.date >= "2024" for h in dated)
    month = idx.search("entente", k=10, filters=SearchFilters(since="2021-02-15", until="2021-02-20"))
    assert {h.doc_id for h in month} == {"001_82cb9e71a3077cb4"}  # known only to the month: overlaps
    by_issuer = idx.search("budget", k=10, filters=SearchFilters(issuer=("riverton",)))
    assert {h.doc_id for h in by_issuer} == {"riverton-library-renovation"}
    assert idx.search("budget", k=5, filters=SearchFilters(issuer=("nobody",))) == []

    per_doc = idx.search("Toulouse Montréal", k=4, per_document=True)
    assert len({h.doc_id for h in per_doc}) == len(per_doc)
    for mode in ("dense", "lexical", "hybrid"):
        assert idx.search("Toulouse", k=2, mode=mode)

    for bad in (0, -1, 1001, 2.5, True):
        with pytest.raises(InvalidQueryError, match="k must be"):
            idx.search("x", k=bad)
    with pytest.raises(InvalidQueryError, match="empty"):
        idx.search("   ")
    with pytest.raises(InvalidQueryError, match="date like"):
        SearchFilters(since="March 2021")
    with pytest.raises(InvalidQueryError, match="fr or en"):
        SearchFilters(lang=("de",))


def test_fusion_never_moves_other_language_passages(sample_corpus, tmp_path, fake_embedder):
    idx = ingest_paths([sample_corpus], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    query = "Toulouse Montréal entente aéronautique"
    dense = idx.search(query, k=15, mode="dense", query_lang="en")
    hybrid = idx.search(query, k=15, mode="hybrid", query_lang="en")
    dense_slots = {h.rank: h.chunk.chunk_id for h in dense if h.document.lang != "en"}
    hybrid_slots = {h.rank: h.chunk.chunk_id for h in hybrid if h.document.lang != "en"}
    assert dense_slots == hybrid_slots


def test_langchain_retriever(sample_corpus, tmp_path, fake_embedder):
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document as LangChainDocument
    from langchain_core.retrievers import BaseRetriever

    from index import ingest_paths

    index = ingest_paths([sample_corpus], tmp_path / "idx", embedder=fake_embedder, progress=False).index
    retriever = index.as_langchain_retriever(k=2, filters={"lang": ("en",)})
    assert isinstance(retriever, BaseRetriever)
    found = retriever.invoke("night bus fares")
    assert 1 <= len(found) <= 2 and all(isinstance(doc, LangChainDocument) for doc in found)
    for doc in found:
        meta = doc.metadata
        assert meta["lang"] == "en"
        assert index.documents[meta["doc_id"]].text[meta["char_start"]:meta["char_end"]] == doc.page_content
    assert [d.metadata["chunk_id"] for d in retriever.batch(["night bus fares"])[0]] == [d.metadata["chunk_id"] for d in found]


def test_previous_generation_is_kept_and_used_when_the_current_is_damaged(sample_corpus, tmp_path, fake_embedder, capsys):
    from index.check import check_index
    from index import store
    from ui.cli import main

    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    (sample_corpus / "extra.txt").write_text("Un communiqué de plus, ajouté plus tard. " * 10, encoding="utf-8")
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    manifest = store.read_manifest(index_dir)
    current, previous = manifest["generation"], manifest["previous_generation"]
    assert previous and (index_dir / previous).is_dir() and len(list(index_dir.glob("gen-*"))) == 2
    assert check_index(index_dir).ok

    (index_dir / current / "vectors.faiss").write_bytes(b"garbage")  # a damaged disk block
    report = check_index(index_dir)
    assert not report.ok and "vectors.faiss" in " ".join(report.problems)
    index = Index.open(index_dir, fake_embedder)  # falls back, with a warning
    assert len(index.documents) == 7 and "extra" not in index.documents
    assert "previous generation" in capsys.readouterr().err

    assert main(["check", "--index", str(index_dir)]) == 1
    assert "PROBLEM" in capsys.readouterr().out
    rebuilt = Index.rebuild(index_dir, fake_embedder, progress=False)
    assert check_index(index_dir).ok and len(rebuilt.documents) == 7
    assert main(["check", "--index", str(index_dir)]) == 0
    assert store.read_manifest(index_dir)["previous_generation"] == previous  # the readable one is kept


def test_manifest_without_generation_is_a_clear_error(sample_corpus, tmp_path, fake_embedder):
    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    del manifest["generation"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="no valid generation"):
        Index.open(index_dir, fake_embedder)


def test_a_reader_racing_a_writer_never_reports_a_false_damage(sample_corpus, tmp_path, fake_embedder):
    """Readers load in a loop while a writer switches generations (and removes old ones)."""
    import threading

    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    failures, stop = [], threading.Event()

    def read_forever():
        while not stop.is_set():
            try:
                Index.open(index_dir, fake_embedder)
            except Exception as exc:  # noqa: BLE001 - any failure is the bug
                failures.append(repr(exc))

    readers = [threading.Thread(target=read_forever) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for i in range(15):
            (sample_corpus / f"n{i}.txt").write_text(f"Communiqué numéro {i}, bref. " * 10, encoding="utf-8")
            ingest_paths([sample_corpus], index_dir, embedder=fake_embedder, progress=False)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert failures == []


def test_two_processes_writing_at_once_both_keep_their_documents(sample_corpus, tmp_path):
    """Two ingests in separate processes at the same moment, repeated: the second waits for the
    first and merges into what it wrote."""
    from conftest import FakeEmbedder, two_writers_at_once_keep_their_documents

    index_dir = tmp_path / "idx"
    ingest_paths([sample_corpus], index_dir, embedder=FakeEmbedder(), progress=False)
    two_writers_at_once_keep_their_documents(str(index_dir), tmp_path)

def _versions_corpus(tmp_path, release_ids=True):
    """A JSONL with one release in French and English, a same-day release in English only, and an
    older French one; written so the bag-of-words fake embedder sees the pair as close."""
    rows = [
        {"doc_id": "budget-fr", "lang": "fr", "date": "2024-05-02", "title": "Budget 2025",
         "text": "Budget 2025 Northbay budget transit 6.2 million drivers buses night lines N1 N5 approved council."},
        {"doc_id": "budget-en", "lang": "en", "date": "2024-05-02", "title": "Budget 2025",
         "text": "Budget 2025 Northbay budget transit 6.2 million drivers buses night lines N1 N5 approved council vote."},
        {"doc_id": "museum-en", "lang": "en", "date": "2024-05-02", "title": "Museum reopens",
         "text": "The city museum reopens on Saturday with a new gallery of maritime paintings and free entry."},
        {"doc_id": "budget-old-fr", "lang": "fr", "date": "2023-05-02", "title": "Budget 2024",
         "text": "Budget 2024 Northbay budget transit 6.2 million drivers buses night lines N1 N5 approved council."},
    ]
    if release_ids:
        rows[0]["release_id"], rows[1]["release_id"] = 7, "7"  # a number is read as the string
    path = tmp_path / "releases.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("release_ids", [True, False])
def test_language_versions_are_linked_stored_and_counted_once(tmp_path, fake_embedder, release_ids):
    index_dir = tmp_path / "idx"
    index = ingest_paths([_versions_corpus(tmp_path, release_ids)], index_dir, embedder=fake_embedder, progress=False).index
    (release,) = index.releases.releases  # not the same-day museum, not last year's budget
    assert set(release.doc_ids) == {"budget-fr", "budget-en"} and release.how == ("id" if release_ids else "content")
    stored = json.loads((index_dir / index.manifest["generation"] / "releases.json").read_text(encoding="utf-8"))
    assert stored["releases"] == index.releases.to_list()
    assert Index.open(index_dir, fake_embedder).releases.to_list() == stored["releases"]

    everything = index.search("Northbay budget transit drivers", k=6)
    assert {"budget-fr", "budget-en"} <= {hit.doc_id for hit in everything}
    one_each = index.search("Northbay budget transit drivers", k=6, per_release=True, query_lang="en")
    docs = [hit.doc_id for hit in one_each]
    assert "budget-en" in docs and "budget-fr" not in docs and "budget-old-fr" in docs
    (version,) = next(hit for hit in one_each if hit.doc_id == "budget-en").other_versions
    assert version.document.doc_id == "budget-fr" and version.chunk.doc_id == "budget-fr"
    # A French filter keeps the French version even for an English question.
    french = index.search("Northbay budget transit drivers", k=6, per_release=True, query_lang="en",
                          filters=SearchFilters(lang=("fr",)))
    assert "budget-fr" in {hit.doc_id for hit in french}


def test_an_index_written_before_links_finds_them_when_opened(tmp_path, fake_embedder):
    index_dir = tmp_path / "idx"
    index = ingest_paths([_versions_corpus(tmp_path, False)], index_dir, embedder=fake_embedder, progress=False).index
    (index_dir / index.manifest["generation"] / "releases.json").unlink()
    assert len(Index.open(index_dir, fake_embedder).releases) == 1


def test_damaged_links_are_a_clear_error(tmp_path, fake_embedder):
    from index import store

    index_dir = tmp_path / "idx"
    index = ingest_paths([_versions_corpus(tmp_path)], index_dir, embedder=fake_embedder, progress=False).index
    gen = index_dir / index.manifest["generation"]
    (gen / "releases.json").write_text(json.dumps({"releases": [{"key": "x", "doc_ids": ["gone-fr", "budget-en"], "how": "id"}]}))
    with pytest.raises(IndexCorruptError, match="releases.json"):
        store.load_generation(index_dir, index.manifest, index.manifest["generation"])
    (gen / "releases.json").write_text(json.dumps({"releases": [["budget-fr", "budget-en"]]}))
    with pytest.raises(IndexCorruptError, match="releases.json"):
        store.load_generation(index_dir, index.manifest, index.manifest["generation"])


def test_an_open_index_sees_what_another_writer_added(sample_corpus, tmp_path):
    """What a long-running server calls before a question: the night's ingest is taken in."""
    from conftest import FakeEmbedder

    index_dir = tmp_path / "idx"
    serving = ingest_paths([sample_corpus], index_dir, embedder=FakeEmbedder(), progress=False).index
    assert serving.newer() is None
    extra = tmp_path / "late-communique.txt"
    extra.write_text("Communiqué tardif sur le port de plaisance. " * 10, encoding="utf-8")
    ingest_paths([extra], index_dir, embedder=FakeEmbedder(), progress=False)
    newer = serving.newer()
    assert newer is not None and "late-communique" in newer.documents and "late-communique" not in serving.documents
    assert newer.newer() is None


def test_a_writer_that_waits_too_long_gives_up_with_a_clear_error(tmp_path, capsys):
    from index import IndexLockedError
    from index.store import LocalStore

    store = LocalStore(tmp_path / "idx")
    with store.write_lock():
        with pytest.raises(IndexLockedError, match="for over 0 s"):
            with store.write_lock(wait_seconds=0.3):
                pass
    assert "waiting for another writer" in capsys.readouterr().err
    with store.write_lock(wait_seconds=0.3):  # free again once the first writer is done
        pass
