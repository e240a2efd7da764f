"""The index in PostgreSQL + pgvector: a real server (``pgserver``, which bundles PostgreSQL and
pgvector) started in a temporary folder; one fresh database per test."""

from __future__ import annotations

import itertools
import shutil
import tempfile

import numpy as np
import pytest

from conftest import SAMPLES, FakeEmbedder, FakeGenerator, two_writers_at_once_keep_their_documents
from index import EmbedderMismatchError, Index, IndexError_, IndexNotFoundError, SearchFilters, ingest_paths
from index.check import check_index
from index.postgres import display_url

# pgserver asks platformdirs for a runtime folder that CI machines often do not set: harmless.
pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set")]

_numbers = itertools.count()


@pytest.fixture(scope="module")
def postgres_server():
    import pgserver

    folder = tempfile.mkdtemp(prefix="porteparole-pg-")
    server = pgserver.get_server(folder, cleanup_mode="delete")
    yield server
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server) -> str:
    """A new, empty database on the test server (no vector extension yet: the store creates it)."""
    import psycopg

    name = f"pp_test_{next(_numbers)}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.get_uri(name)


def test_the_server_has_the_versions_the_readme_names(database_url):
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        server = conn.execute("SHOW server_version").fetchone()[0]
        vector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
    assert int(server.split(".")[0]) >= 16 and tuple(map(int, vector.split(".")[:2])) >= (0, 8)


def _hits(index, query, **kwargs):
    return [(hit.doc_id, hit.chunk.ordinal, round(hit.score, 5)) for hit in index.search(query, **kwargs)]


#: Every mode, a filter, one version per release.
SEARCHES = [
    ("Combien de passagers à l'aéroport en 2024 ?", {}),
    ("night buses", {"mode": "dense"}),
    ("Qui a signé l'entente ?", {"mode": "lexical"}),
    ("library renovation", {"filters": SearchFilters(lang=("en",))}),
    ("passagers", {"filters": SearchFilters(since="2025-06-01"), "per_release": True}),
]


def test_searching_postgres_gives_what_the_local_store_gives(database_url, tmp_path):
    """Same documents, same embedder, same rules: the same hits, in every mode and with filters."""
    postgres = ingest_paths([SAMPLES], database_url, embedder=FakeEmbedder(), progress=False).index
    local = ingest_paths([SAMPLES], tmp_path / "local", embedder=FakeEmbedder(), progress=False).index
    reopened = Index.open(database_url, FakeEmbedder())
    assert set(reopened.documents) == set(local.documents) and len(reopened.chunks) == len(local.chunks)
    assert np.allclose(reopened.embeddings, local.embeddings, atol=1e-6)
    assert [r.doc_ids for r in reopened.releases.releases] == [r.doc_ids for r in local.releases.releases]
    for query, kwargs in SEARCHES:
        assert _hits(reopened, query, k=5, **kwargs) == _hits(local, query, k=5, **kwargs), query
    assert postgres.location.startswith("postgresql://") and ":@" not in postgres.location
    report = check_index(database_url)
    assert report.ok, report.problems
    assert report.facts["documents"] == len(local.documents)


def test_a_large_index_is_searched_in_sql_with_the_local_stores_results(database_url, tmp_path, monkeypatch):
    """Above APPROXIMATE_ABOVE passages a server builds no FAISS graph of its own: the dense half
    is PostgreSQL's HNSW search, filters in SQL, and the hits are the local store's."""
    import index.postgres as postgres

    monkeypatch.setattr(postgres, "APPROXIMATE_ABOVE", 5)  # the sample's 15 passages count as large
    ingest_paths([SAMPLES], database_url, embedder=FakeEmbedder(), progress=False)
    local = ingest_paths([SAMPLES], tmp_path / "local", embedder=FakeEmbedder(), progress=False).index
    reopened = Index.open(database_url, FakeEmbedder())
    assert reopened.retriever.faiss_index is None and reopened.manifest["faiss"].startswith("none")
    for query, kwargs in SEARCHES:
        assert _hits(reopened, query, k=5, **kwargs) == _hits(local, query, k=5, **kwargs), query
    assert check_index(database_url).ok

    # Another writer's new document is in the table before this server takes it in: its passages
    # are left out of this snapshot's results until then, and nothing breaks.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "ferry.md").write_text("# Ferry service\n\nThe new night ferry to Northbay starts on 3 March.", encoding="utf-8")
    ingest_paths([extra], database_url, embedder=FakeEmbedder(), progress=False)
    assert all(hit.doc_id in reopened.documents for hit in reopened.search("night ferry Northbay", k=20))
    assert any(hit.doc_id == "ferry" for hit in Index.open(database_url, FakeEmbedder()).search("night ferry Northbay", k=3))


def test_only_changed_documents_are_written_and_none_twice(database_url, tmp_path):
    import psycopg

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLES, corpus)
    ingest_paths([corpus], database_url, embedder=FakeEmbedder(), progress=False)
    again = ingest_paths([corpus], database_url, embedder=FakeEmbedder(), progress=False)
    assert again.update.added == [] and not again.update.written
    assert again.index.manifest["generation"] == "gen-000001"

    changed = corpus / "riverton-library-renovation.md"
    changed.write_text(changed.read_text(encoding="utf-8").replace("Riverton", "Riverton-sur-Mer"), encoding="utf-8")
    (corpus / "northbay-night-buses.md").unlink()
    result = ingest_paths([corpus], database_url, embedder=FakeEmbedder(), prune=True, progress=False)
    assert result.update.updated == ["riverton-library-renovation"]
    assert result.update.removed == ["northbay-night-buses"]
    index = Index.open(database_url, FakeEmbedder())
    assert index.manifest["generation"] == "gen-000002"
    assert "Riverton-sur-Mer" in index.documents["riverton-library-renovation"].text
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT (doc_id, ordinal)) FROM pp_chunks").fetchone()
        documents = conn.execute("SELECT count(*) FROM pp_documents").fetchone()[0]
    assert rows == (len(index.chunks), len(index.chunks)) and documents == len(index.documents)

    rebuilt = Index.rebuild(database_url, FakeEmbedder(), progress=False)  # every document written again
    assert rebuilt.manifest["generation"] == "gen-000003" and len(rebuilt.chunks) == len(index.chunks)
    assert check_index(database_url).ok


def test_a_failed_write_changes_nothing(database_url, monkeypatch):
    """The write is one transaction: when PostgreSQL refuses a row halfway, the previous state stays."""
    import index.postgres as postgres

    ingest_paths([SAMPLES / "riverton-library-renovation.md"], database_url, embedder=FakeEmbedder(), progress=False)
    before = Index.open(database_url, FakeEmbedder())

    def wrong_size(vectors, langs, centring):  # a vector PostgreSQL will refuse (wrong dimension)
        return np.zeros((len(vectors), vectors.shape[1] + 1), dtype=np.float32)

    monkeypatch.setattr(postgres, "centre", wrong_size)
    with pytest.raises(IndexError_, match="nothing was changed"):
        ingest_paths([SAMPLES], database_url, embedder=FakeEmbedder(), progress=False)
    monkeypatch.undo()
    after = Index.open(database_url, FakeEmbedder())
    assert after.manifest["generation"] == before.manifest["generation"]
    assert set(after.documents) == set(before.documents) and len(after.chunks) == len(before.chunks)


def test_two_processes_writing_at_once_both_keep_their_documents(database_url, tmp_path):
    """Two ingests (say two machines) at the same moment, repeated: the advisory lock makes the
    second wait, and it merges into what the first wrote."""
    ingest_paths([SAMPLES], database_url, embedder=FakeEmbedder(), progress=False)
    two_writers_at_once_keep_their_documents(database_url, tmp_path, writers=("night-ingest", "upload"))

def test_another_embedder_an_empty_database_and_a_wrong_server_are_clear_errors(database_url, postgres_server):
    with pytest.raises(IndexNotFoundError, match="porteparole ingest"):
        Index.open(database_url, FakeEmbedder())
    ingest_paths([SAMPLES / "northbay-night-buses.md"], database_url, embedder=FakeEmbedder(), progress=False)

    class OtherEmbedder(FakeEmbedder):
        fingerprint = "another-model:v1"

    with pytest.raises(EmbedderMismatchError, match="another-model"):
        Index.open(database_url, OtherEmbedder())
    wrong = "postgresql://desk:s3cret@/nowhere?host=/nonexistent-socket-dir"
    with pytest.raises(IndexError_, match="Cannot connect") as caught:
        Index.open(wrong, FakeEmbedder())
    assert "s3cret" not in str(caught.value)


def test_the_password_is_never_shown(capsys):
    from ui.cli import EXIT_USAGE, main

    assert display_url("postgresql://desk:s3cret@db.example.org:5432/porteparole") == \
        "postgresql://desk@db.example.org:5432/porteparole"
    assert "s3cret" not in display_url("postgres://desk:s3cret@db/pp?sslmode=require")
    assert main(["info", "--index", "postgresql://desk:s3cret@/pp?host=/nonexistent-socket-dir"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "visible in ps" in err and "Cannot connect to postgresql://desk@" in err and "s3cret" not in err


def test_a_server_sees_another_servers_upload_without_a_restart(database_url, tmp_path):
    """Two chat servers on one database: a file uploaded to the first is found by the second."""
    from assistant import Assistant
    from ui.app import ChatApp

    ingest_paths([SAMPLES], database_url, embedder=FakeEmbedder(), progress=False)
    first = ChatApp(Assistant(Index.open(database_url, FakeEmbedder()), FakeGenerator()))
    second = ChatApp(Assistant(Index.open(database_url, FakeEmbedder()), FakeGenerator()))
    upload = tmp_path / "harbour-ferry.txt"
    upload.write_text("Harbourtown ferry service resumes on 3 March with eight daily crossings. " * 5, encoding="utf-8")
    rows = first.ingest_files([upload], added_by="desk")
    assert rows[0]["status"] == "added", rows
    assert rows[0]["doc_id"] not in second.assistant.index.documents
    second.FOLLOW_EVERY = 0.0
    second.follow_index()
    found = second.assistant.index.search("Harbourtown ferry crossings", k=1)
    assert found[0].doc_id == rows[0]["doc_id"] and found[0].document.added_by == "desk"
    first.FOLLOW_EVERY = 0.0
    before = first.assistant.index
    first.follow_index()  # nothing new since its own upload: the same index object stays
    assert first.assistant.index is before


@pytest.mark.parametrize("bulk", [False, True], ids=["graph-grown-row-by-row", "graph-built-after-the-rows"])
def test_dense_search_in_sql_with_filters(database_url, monkeypatch, bulk):
    """The HNSW search in SQL, filters in the WHERE clause, ranks as the in-memory dense search,
    whether the first write grew the graph row by row or built it at the end."""
    import index.postgres as postgres
    from index.retrieval import centre

    monkeypatch.setattr(postgres, "BULK_ROWS", 1 if bulk else 10**9)
    index = ingest_paths([SAMPLES], database_url, embedder=FakeEmbedder(), progress=False).index
    with index.store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'pp_chunks_centred_hnsw'").fetchone()[0] == 1
    query = "passagers aéroport Valmont"
    vector = centre(index.embedder.encode_query([query]), ["query"], index.centring)[0]
    for filters in [None, SearchFilters(lang=("fr",)), SearchFilters(since="2025-06"),
                    SearchFilters(until="2025", issuer=("valmont",)), SearchFilters(issuer=("100%_sure",))]:
        in_memory = [(hit.doc_id, hit.chunk.ordinal) for hit in index.search(query, k=3, mode="dense", filters=filters)]
        in_sql = [(doc_id, ordinal) for doc_id, ordinal, _ in index.store.dense_search(vector, 3, filters)]
        assert in_sql == in_memory, filters


def test_a_writer_waits_for_another_machine_and_gives_up_with_a_clear_error(database_url):
    from index import IndexLockedError, open_store

    first, second = open_store(database_url), open_store(database_url)  # two sessions, as two machines
    with first.write_lock():
        with pytest.raises(IndexLockedError, match="for over 0 s"):
            with second.write_lock(wait_seconds=0.3):
                pass
    with second.write_lock(wait_seconds=0.3):  # released with the first writer's session
        pass
