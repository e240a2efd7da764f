"""The index in PostgreSQL with pgvector: the local store's documents, passages and vectors in
tables that several servers and ingest jobs share (``pip install 'porteparole[postgres]'``).

Tables (one index per database; for several in one database, give each its own schema with
``?options=-csearch_path%3DNAME`` in the URL)::

    pp_manifest   one row: generation number and the manifest (format, embedder fingerprint,
                  chunking, centring rule, versions, counts) as JSON
    pp_documents  doc_id (primary key), content_hash, the Document as JSON (full text, so that
                  quotes can be verified)
    pp_chunks     (doc_id, ordinal) primary key, the Chunk as JSON, lang / date / issuer columns
                  for SQL filters, the raw vector and the centred one (``vector(dim)``, HNSW
                  index for inner product)
    pp_state      the per-language centring means and the language-version links, as JSON

A write is one transaction: documents that changed or went are deleted (their passages with them),
new ones inserted with their passages, the generation number raised. A crash or a lost connection
before the commit leaves the previous state; readers see one committed state or the next, never a
mix (they read in one REPEATABLE READ transaction). Writers on any machine take turns through a
PostgreSQL advisory lock and each re-reads the current generation once it holds it, so two ingests
never lose each other's documents, and ``doc_id`` is a primary key, so none is stored twice.

Credentials: libpq's usual sources (``PGPASSWORD``, ``~/.pgpass``, ``PGSERVICE``…) apply, so the
URL need not carry a password; it is never printed (see :func:`display_url`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import threading
from contextlib import contextmanager

import numpy as np

from ingest import Document

from .embedding_cache import cache_dir
from .errors import IndexCorruptError, IndexError_, IndexNotFoundError
from .retrieval import APPROXIMATE_ABOVE, build_faiss_index, centre
from .store import FORMAT, StoredIndex, wait_for_turn
from .types import Chunk, SearchFilters, _date_bounds
from .versions import Release

#: Advisory-lock key of the writers (any 64-bit number that other applications are unlikely to use).
WRITER_LOCK_KEY = 0x706F72746570  # "portep"

SCHEMA = """
CREATE TABLE IF NOT EXISTS pp_manifest (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    generation bigint NOT NULL,
    manifest jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS pp_documents (
    doc_id text PRIMARY KEY,
    content_hash text NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS pp_documents_content_hash ON pp_documents (content_hash);
CREATE TABLE IF NOT EXISTS pp_chunks (
    doc_id text NOT NULL REFERENCES pp_documents (doc_id) ON DELETE CASCADE,
    ordinal integer NOT NULL,
    lang text NOT NULL,
    date text NOT NULL,
    issuer text NOT NULL,
    data jsonb NOT NULL,
    embedding vector({dim}) NOT NULL,
    centred vector({dim}) NOT NULL,
    PRIMARY KEY (doc_id, ordinal)
);
CREATE INDEX IF NOT EXISTS pp_chunks_date ON pp_chunks (date);
CREATE INDEX IF NOT EXISTS pp_chunks_issuer ON pp_chunks (issuer);
CREATE TABLE IF NOT EXISTS pp_state (
    name text PRIMARY KEY,
    value jsonb NOT NULL
);
"""


#: Built after the rows when a write fills the table (a bulk build is several times faster than
#: growing the graph row by row); otherwise kept, and each insert adds to it.
HNSW_INDEX = "CREATE INDEX IF NOT EXISTS pp_chunks_centred_hnsw ON pp_chunks USING hnsw (centred vector_ip_ops)"
BULK_ROWS = 5_000
#: Rows the HNSW scan brings back per hit asked for, re-sorted exactly (see dense_search).
CANDIDATES_PER_HIT = 4


def display_url(url: str) -> str:
    """``url`` without its password, for messages and logs.

    Example:
        >>> display_url("postgresql://desk:secret@db.example.org:5432/porteparole")
        'postgresql://desk@db.example.org:5432/porteparole'
    """
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by connect(); never echo it
        return "postgresql://(unparsable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    host = parts.get("host", "")
    where = f"{host}{port}" if not host.startswith("/") else f"(socket {host})"
    return f"postgresql://{user}{where}/{parts.get('dbname', '')}"


def _generation_name(number: int) -> str:
    return f"gen-{number:06d}"


class PostgresStore:
    """An index in a PostgreSQL database with the ``vector`` extension (pgvector).

    Example:
        >>> from index import Index
        >>> index = Index.open("postgresql://desk@db.example.org/porteparole")   # doctest: +SKIP
    """

    kind = "postgres"

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: F401
            import pgvector.psycopg  # noqa: F401
        except ImportError as exc:
            raise IndexError_("The PostgreSQL store needs psycopg and pgvector: pip install 'porteparole[postgres]'") from exc
        self.url = url
        self.display = display_url(url)
        # Uploads in the chat need a file on disk for their source path; one folder per database.
        digest = hashlib.sha256(self.display.encode()).hexdigest()[:12]
        self.uploads_dir = cache_dir() / "uploads" / digest
        # One kept connection for the small frequent reads (generation checks, SQL searches),
        # so they do not pay a connection each; used by one thread at a time.
        self._reader = None
        self._reader_lock = threading.Lock()

    # ----------------------------------------------------------------- connections
    def connect(self, *, autocommit: bool = False):
        """A new connection with pgvector's types registered; a clear error when it fails."""
        import psycopg
        from pgvector.psycopg import register_vector

        try:
            conn = psycopg.connect(self.url, autocommit=autocommit, connect_timeout=15)
        except psycopg.Error as exc:
            raise IndexError_(f"Cannot connect to {self.display}: {str(exc).strip().splitlines()[0][:300]}") from None
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:
            # A new database: the extension is created once (it needs the database owner's rights).
            try:
                conn.rollback()
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.commit()
                register_vector(conn)
            except psycopg.Error as exc:
                conn.close()
                raise IndexError_(
                    f"The database {self.display} has no vector extension and this user cannot create it "
                    f"({str(exc).strip().splitlines()[0][:200]}). As the database owner run: CREATE EXTENSION vector;"
                ) from None
        return conn

    @contextmanager
    def _kept_connection(self):
        """The kept autocommit connection, opened again if the server closed it."""
        import psycopg

        with self._reader_lock:
            if self._reader is None or self._reader.closed:
                self._reader = self.connect(autocommit=True)
            try:
                yield self._reader
            except psycopg.OperationalError:
                self._reader.close()
                self._reader = None
                raise

    def _exists(self, conn) -> bool:
        return conn.execute("SELECT to_regclass('pp_manifest') IS NOT NULL").fetchone()[0]

    # ----------------------------------------------------------------- reading
    def _manifest(self, conn) -> dict:
        if not self._exists(conn):
            raise IndexNotFoundError(f"No Porte-parole index in {self.display}. "
                                     f"Create one with: porteparole ingest PATH --index {self.display}")
        row = conn.execute("SELECT generation, manifest FROM pp_manifest").fetchone()
        if row is None:
            raise IndexNotFoundError(f"No Porte-parole index in {self.display} (empty pp_manifest)")
        generation, manifest = row
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise IndexCorruptError(f"pp_manifest in {self.display} is not a Porte-parole manifest "
                                    f"(expected format {FORMAT})")
        return {**manifest, "generation": _generation_name(generation)}

    def read_manifest(self) -> dict:
        with self.connect() as conn:
            return self._manifest(conn)

    def current_generation(self) -> str | None:
        import psycopg

        try:
            with self._kept_connection() as conn:
                row = conn.execute("SELECT generation FROM pp_manifest").fetchone() if self._exists(conn) else None
        except (IndexError_, psycopg.Error):
            return None
        return _generation_name(row[0]) if row else None

    def load(self) -> StoredIndex:
        """The committed state, read in one snapshot; vectors come back as stored (float32)."""
        import psycopg

        with self.connect() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                manifest = self._manifest(conn)
                try:
                    documents = {}
                    for (data,) in conn.execute("SELECT data FROM pp_documents"):
                        doc = Document.from_dict(data)
                        documents[doc.doc_id] = doc
                    rows = conn.cursor(binary=True).execute("SELECT data, embedding FROM pp_chunks").fetchall()
                    state = dict(conn.execute("SELECT name, value FROM pp_state").fetchall())
                    releases = [Release.from_dict(row) for row in state.get("releases", [])]
                except (KeyError, TypeError, ValueError) as exc:
                    raise IndexCorruptError(f"The index in {self.display} has a malformed row "
                                            f"({type(exc).__name__}: {str(exc)[:200]}); rebuild it with: "
                                            f"porteparole ingest --rebuild --index {self.display}") from exc
        dim = manifest.get("embedder", {}).get("dim", 384)
        pairs = sorted(((Chunk.from_dict(data), vector) for data, vector in rows),
                       key=lambda pair: (pair[0].doc_id, pair[0].ordinal))
        chunks = [chunk for chunk, _ in pairs]
        embeddings = (np.vstack([vector.to_numpy() for _, vector in pairs]).astype(np.float32)
                      if pairs else np.zeros((0, dim), dtype=np.float32))
        centring = state.get("centring", {})
        faiss_index = None
        if not self.dense_in_sql(len(chunks)):
            faiss_index = build_faiss_index(centre(embeddings, [documents[c.doc_id].lang for c in chunks], centring))
        return StoredIndex(manifest, documents, chunks, embeddings, centring, faiss_index, releases)

    def dense_in_sql(self, n_chunks: int) -> bool:
        """Whether an index of ``n_chunks`` passages is searched by the HNSW graph in SQL
        (:meth:`dense_search`) rather than by a FAISS index built in each server's memory.

        Above :data:`index.retrieval.APPROXIMATE_ABOVE` passages both would be approximate
        anyway, and building the graph again at every opening took 24 s of the 39 s a server
        needed to open 200,000 passages (benchmarks/bench_stores.py); below it, exact search in
        memory is cheap to set up and gives the local store's very results.
        """
        return n_chunks > APPROXIMATE_ABOVE

    # ----------------------------------------------------------------- writing
    @contextmanager
    def write_lock(self, wait_seconds: float | None = None):
        """Writers on any machine take turns (PostgreSQL advisory lock, released if the writer dies)."""
        conn = self.connect(autocommit=True)
        try:
            wait_for_turn(lambda: conn.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK_KEY,)).fetchone()[0],
                          self.display, wait_seconds)
            yield
        finally:
            conn.close()  # ends the session, which releases the lock

    def save(self, *, documents: list[Document], chunks: list[Chunk], embeddings: np.ndarray,
             centring: dict[str, list[float]], faiss_index, releases: list[Release], manifest_fields: dict,
             keep_generation: str | None = None, changed: set[str] = frozenset()) -> dict:
        """Bring the tables to this state in one transaction; only changed documents are written.

        Written again: documents whose content hash differs from the stored one, and those in
        ``changed`` (a rebuild re-chunks every document). Call inside :meth:`write_lock`.
        ``faiss_index`` and ``keep_generation`` belong to the
        local store (here the search structure is the HNSW index, and the fallback is the
        transaction itself).
        """
        import psycopg
        from psycopg.types.json import Jsonb

        dim = embeddings.shape[1] if embeddings.ndim == 2 and embeddings.shape[0] else manifest_fields["embedder"]["dim"]
        by_id = {doc.doc_id: doc for doc in documents}
        langs = [by_id[chunk.doc_id].lang for chunk in chunks]
        centred = centre(embeddings, langs, centring)
        try:
            with self.connect() as conn, conn.transaction():
                conn.execute(SCHEMA.format(dim=int(dim)))
                previous = conn.execute("SELECT generation, manifest FROM pp_manifest FOR UPDATE").fetchone()
                stored = dict(conn.execute("SELECT doc_id, content_hash FROM pp_documents").fetchall())
                old_state = dict(conn.execute("SELECT name, value FROM pp_state").fetchall())
                stale = [doc_id for doc_id, digest in stored.items()
                         if doc_id not in by_id or by_id[doc_id].content_hash != digest or doc_id in changed]
                conn.execute("DELETE FROM pp_documents WHERE doc_id = ANY(%s)", (stale,))
                fresh = {doc_id for doc_id in by_id if doc_id not in stored or doc_id in stale}
                if old_state.get("centring", {}) != centring:
                    # Centred vectors of every passage change with the means: write them all again.
                    conn.execute("DELETE FROM pp_chunks")
                    rewrite = set(by_id)
                else:
                    rewrite = fresh
                if not ((stored.keys() & by_id.keys()) - rewrite) and sum(c.doc_id in rewrite for c in chunks) >= BULK_ROWS:
                    # Every row is written (a first ingest, a rebuild): the graph is built once at the end,
                    # several times faster than row by row. Servers opening the index meanwhile wait for
                    # the commit; running ones keep answering from memory.
                    conn.execute("DROP INDEX IF EXISTS pp_chunks_centred_hnsw")
                with conn.cursor().copy("COPY pp_documents (doc_id, content_hash, data) FROM STDIN") as copy:
                    for doc_id in sorted(fresh):
                        doc = by_id[doc_id]
                        copy.write_row((doc_id, doc.content_hash, Jsonb(doc.to_dict())))
                with conn.cursor().copy("COPY pp_chunks (doc_id, ordinal, lang, date, issuer, data, embedding, centred) "
                                        "FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "int4", "text", "text", "text", "jsonb", "vector", "vector"])
                    for row, chunk in enumerate(chunks):
                        if chunk.doc_id in rewrite:
                            doc = by_id[chunk.doc_id]
                            copy.write_row((chunk.doc_id, chunk.ordinal, doc.lang or "", doc.date or "", doc.issuer or "",
                                            Jsonb(chunk.to_dict()), embeddings[row], centred[row]))
                conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
                conn.execute(HNSW_INDEX)
                for name, value in (("centring", centring), ("releases", [release.to_dict() for release in releases])):
                    conn.execute("INSERT INTO pp_state (name, value) VALUES (%s, %s) "
                                 "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", (name, Jsonb(value)))
                now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                generation = (previous[0] if previous else 0) + 1
                manifest = {"format": FORMAT, "created_at": (previous[1].get("created_at") if previous else None) or now,
                            "updated_at": now, "store": "postgresql", **manifest_fields}
                conn.execute("INSERT INTO pp_manifest (id, generation, manifest) VALUES (1, %s, %s) "
                             "ON CONFLICT (id) DO UPDATE SET generation = EXCLUDED.generation, manifest = EXCLUDED.manifest",
                             (generation, Jsonb(manifest)))
        except psycopg.Error as exc:
            raise IndexError_(f"Writing to {self.display} failed, nothing was changed: "
                              f"{str(exc).strip().splitlines()[0][:300]}") from None
        return {**manifest, "generation": _generation_name(generation)}

    # ----------------------------------------------------------------- searching in SQL
    def dense_search(self, centred_query: np.ndarray, k: int = 10, filters: SearchFilters | None = None, *,
                     ef_search: int | None = None) -> list[tuple[str, int, float]]:
        """Nearest passages by the HNSW index, ``filters`` in SQL: ``(doc_id, ordinal, score)``, best first.

        The filters mean what :meth:`SearchFilters.matches` means (issuer: a case-insensitive part
        of the name; dates of any precision overlapping the range). For an archive larger than
        one machine's memory; :class:`index.Index` uses it above :data:`APPROXIMATE_ABOVE`
        passages (see :meth:`dense_in_sql`).
        ``centred_query`` is a query vector centred like the passages (:func:`index.retrieval.centre`
        with the ``query`` mean).
        """
        where, params = [], []
        filters = filters or SearchFilters()
        if filters.lang:
            where.append("lang = ANY(%s)")
            params.append(list(filters.lang))
        if filters.issuer:
            where.append("issuer ILIKE ANY(%s)")
            params.append(["%" + re.sub(r"([%_\\])", r"\\\1", wanted) + "%" for wanted in filters.issuer])
        # A date of any precision is the range of days it can mean (see types.date_overlaps).
        if filters.since:
            where.append("date <> '' AND (CASE length(date) WHEN 4 THEN date || '-12-31' "
                         "WHEN 7 THEN date || '-31' ELSE date END) >= %s")
            params.append(_date_bounds(filters.since)[0])
        if filters.until:
            where.append("date <> '' AND (CASE length(date) WHEN 4 THEN date || '-01-01' "
                         "WHEN 7 THEN date || '-01' ELSE date END) <= %s")
            params.append(_date_bounds(filters.until)[1])
        # The iterative scan keeps walking the graph until enough rows pass the filters; its
        # "relaxed" order is made strict again over the candidates (pgvector's documented way).
        sql = ("WITH candidates AS MATERIALIZED (SELECT doc_id, ordinal, centred <#> %s AS distance FROM pp_chunks "
               + ("WHERE " + " AND ".join(where) + " " if where else "")
               + "ORDER BY distance LIMIT %s) SELECT doc_id, ordinal, -distance FROM candidates ORDER BY distance LIMIT %s")
        query = np.asarray(centred_query, dtype=np.float32)
        if ef_search is None:  # a filter discards most of the graph's neighbours: look at more of them
            ef_search = 400 if where else 100
        with self._kept_connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            rows = conn.execute(sql, (query, *params, CANDIDATES_PER_HIT * int(k), int(k))).fetchall()
            return [(doc_id, ordinal, float(score)) for doc_id, ordinal, score in rows]

