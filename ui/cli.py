"""The ``porteparole`` command: ingest, search, info, check, ask, serve, eval.

Errors a user can cause print one clear line (no traceback) and exit with status 2; a batch with
skipped files exits with status 1 after doing everything it could.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
INDEX_HELP = "index directory, or a postgresql:// URL (password from PGPASSWORD or ~/.pgpass, not the URL)"


def _filters(args):
    from index import SearchFilters

    return SearchFilters(
        since=args.since, until=args.until,
        issuer=tuple(args.issuer or ()), lang=tuple(args.lang or ()),
    )


def _add_filter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (sources)")
    group.add_argument("--lang", action="append", choices=["fr", "en"], help="only sources in this language (repeatable)")
    group.add_argument("--since", metavar="DATE", help="only sources dated on or after DATE (2021-01-31, 2021-01 or 2021)")
    group.add_argument("--until", metavar="DATE", help="only sources dated on or before DATE")
    group.add_argument("--issuer", action="append", metavar="TEXT", help="only sources whose issuer contains TEXT (repeatable)")


def _iso_day(value: str):
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date like 2022-06-01; got {value!r}") from None


def cmd_ingest(args) -> int:
    from index import ingest_paths
    from ingest import read_metadata_csv

    if args.rebuild:
        from index import Index

        index = Index.rebuild(args.index, progress=not args.quiet)
        print(f"Rebuilt {index.location} from its stored documents: {len(index.documents)} documents, "
              f"{len(index.chunks)} passages (generation {index.manifest['generation']})")
        if not args.paths and not args.metadata:
            return EXIT_OK
    if not args.paths and not args.metadata:
        print("porteparole ingest: error: give files or folders to read, --metadata FILE.csv or --rebuild", file=sys.stderr)
        return EXIT_USAGE
    metadata = read_metadata_csv(args.metadata) if args.metadata else None
    result = ingest_paths(args.paths, args.index, issuer=args.issuer or "", prune=args.prune, progress=not args.quiet,
                          metadata=metadata)
    read, update = result.read, result.update
    for problem in read.problems:
        print(f"skipped  {problem}", file=sys.stderr)
    for cut in read.cuts:
        print(f"cut      {cut}", file=sys.stderr)
    for doc_id, fields in read.missing_metadata().items():
        print(f"note     {doc_id}: not found in the text: {', '.join(fields)}", file=sys.stderr)
    for doc_id, inferred in read.inferred_metadata().items():
        print(f"note     {doc_id}: inferred, check it: {_describe_inferred(inferred)}", file=sys.stderr)
    for old, new in update.renamed.items():
        print(f"note     doc_id {old!r} is already used by another file; this one is {new!r}", file=sys.stderr)
    print(
        f"{len(update.added)} added, {len(update.updated)} updated, {len(update.unchanged)} unchanged, "
        f"{len(update.removed)} removed; {update.chunks_embedded} passages embedded"
        + (f" ({update.chunks_embedded / update.embed_seconds:.1f}/s)" if update.embed_seconds else "")
        + f", {update.chunks_reused} reused. {len(read.problems)} skipped, {len(read.ignored)} ignored (unsupported type)."
    )
    print(f"Index: {result.index.location} ({len(result.index.documents)} documents, {len(result.index.chunks)} passages)")
    return EXIT_PARTIAL if read.problems else EXIT_OK


def cmd_check(args) -> int:
    from index.check import check_index

    report = check_index(args.index)
    if args.json:
        print(json.dumps({"index": report.index_dir, "ok": report.ok, "problems": report.problems, **report.facts},
                         ensure_ascii=False, indent=2))
    else:
        for name, value in report.facts.items():
            print(f"{name:11} {value}")
        for problem in report.problems:
            print(f"PROBLEM     {problem}")
        print("OK: the index is sound." if report.ok else
              f"{len(report.problems)} problem(s). Rebuild with: porteparole ingest --rebuild --index {args.index}")
    return EXIT_OK if report.ok else EXIT_PARTIAL


def _describe_inferred(inferred: dict[str, str]) -> str:
    how = {"derived": "from the first sentence", "speaker": "the organisation speaking in the first sentence",
           "flag": "from --issuer", "folder": "from the folder name"}
    return "; ".join(f"{name}: {how.get(origin, origin)}" for name, origin in inferred.items())


def _print_hit(hit, width: int = 100) -> None:
    doc = hit.document
    print(f"[{hit.rank}] {doc.title or hit.doc_id}  (score {hit.score:.3f})")
    print(f"    {doc.date or 'undated'} · {doc.issuer or 'issuer unknown'} · {doc.lang or '?'} · {hit.doc_id} chars {hit.chunk.char_start}-{hit.chunk.char_end}")
    snippet = " ".join(hit.chunk.text.split())
    print(textwrap.indent(textwrap.fill(snippet[:400] + ("…" if len(snippet) > 400 else ""), width - 4), "    "))
    _print_other_versions(hit.other_versions)


def _print_other_versions(versions) -> None:
    for version in versions:
        chunk = version.chunk
        print(f"    also in {version.document.lang or '?'}: {version.document.doc_id} chars {chunk.char_start}-{chunk.char_end}"
              f" ({version.document.title or 'untitled'})")


def cmd_search(args) -> int:
    from index import Index

    idx = Index.open(args.index)
    hits = idx.search(args.query, k=args.k, filters=_filters(args), mode=args.mode, per_document=args.documents,
                      per_release=args.releases)
    if args.json:
        from assistant.schema import search_result

        print(json.dumps(search_result(args.query, hits), ensure_ascii=False, indent=2))
        return EXIT_OK
    if not hits:
        print("No passage matches (check the filters).")
    for hit in hits:
        _print_hit(hit)
    return EXIT_OK


def cmd_timeline(args) -> int:
    from assistant import Assistant

    timeline = Assistant.open(args.index, generator="extractive").timeline(args.subject, filters=_filters(args))
    if args.markdown:
        try:
            Path(args.markdown).write_text(timeline.to_markdown(), encoding="utf-8")
        except OSError as exc:
            print(f"porteparole: error: --markdown {args.markdown}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.json:
        print(json.dumps(timeline.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(timeline.to_markdown(), end="")
    return EXIT_OK


def cmd_info(args) -> int:
    from index import Index

    info = Index.open(args.index).info()
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"Index       {info['index']}")
    print(f"Documents   {info['documents']} ({', '.join(f'{k}: {v}' for k, v in info['languages'].items())})")
    print(f"Passages    {info['chunks']}")
    print(f"Releases    {info['releases_linked']} published in two languages (their versions linked, each counted once)")
    dates = info["date_range"]
    print(f"Dates       {dates[0]} … {dates[1]}" if dates else "Dates       none found", end="")
    print(f" ({info['undated_documents']} undated)" if info["undated_documents"] else "")
    print(f"Model       {info['embedder']} on {info['engine']} · FAISS {info['faiss']} · centring: {info['centring']}")
    print(f"Updated     {info['updated_at']}")
    print("Issuers")
    for issuer, count in list(info["issuers"].items())[:20]:
        print(f"  {count:5d}  {issuer}")
    to_check = info["metadata_to_check"]
    if to_check:
        shown = to_check if args.all else to_check[:20]
        print(f"Metadata to check ({len(to_check)} documents: missing or inferred; set them with "
              f"ingest --metadata FILE.csv)")
        for row in shown:
            parts = [f"{name} missing" for name in row["missing"]] + ([_describe_inferred(row["inferred"])] if row["inferred"] else [])
            print(f"  {row['doc_id']}: {'; '.join(parts)}")
        if len(shown) < len(to_check):
            print(f"  … {len(to_check) - len(shown)} more (--all lists them)")
    return EXIT_OK


def _print_answer(answer) -> None:
    if answer.time_scope:
        # Which dates shaped the ranking, in the reader's language, and how to turn it off.
        label = answer.time_scope["label_fr" if answer.language == "fr" else "label_en"]
        print(f"[{label}; --ignore-question-dates to rank without it]" if answer.language != "fr"
              else f"[{label} ; --ignore-question-dates pour classer sans]")
    print(answer.text)
    if answer.refused:
        print()
        print("Closest sources:" if answer.language == "en" else "Sources les plus proches :")
        for hit in answer.hits[:3]:
            _print_hit(hit)
        return
    for note in answer.update_notes():
        print(textwrap.fill(f"⚠ {note}", 100, subsequent_indent="  "))
    print()
    newer = [u.citation for u in answer.updates if u.kind == "newer"]
    for citation in answer.citations + newer:
        who = " · ".join(part for part in (citation.date, citation.issuer, citation.lang) if part)
        print(f"[{citation.n}] {citation.title or citation.doc_id}")
        print(f"    {who} · {citation.doc_id} chars {citation.char_start}-{citation.char_end}")
        print(textwrap.indent(textwrap.fill(f"« {citation.quote} »", 96), "    "))
        if citation in answer.citations:
            _print_other_versions(answer.other_versions(citation))


def cmd_ask(args) -> int:
    from assistant import Assistant

    assistant = Assistant.open(args.index, generator=args.generator)
    answer = None
    streamed = False
    for event in assistant.ask_stream(args.question, filters=_filters(args), today=args.today,
                                      question_dates=not args.ignore_question_dates,
                                      newer_values=not args.no_newer_values):
        if event.kind == "text" and not args.json and sys.stderr.isatty():
            print(event.text, end="", file=sys.stderr, flush=True)  # live draft; the verified answer follows
            streamed = True
        elif event.kind == "answer":
            answer = event.answer
    if streamed:
        print("\n", file=sys.stderr)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return EXIT_OK


def _credentials(value: str, where: str) -> tuple[str, str]:
    from ingest import PorteParoleError

    user, sep, password = value.strip().partition(":")
    if not sep or not user or not password:
        raise PorteParoleError(f"{where} must be USER:PASSWORD")
    return user, password


def cmd_serve(args) -> int:
    import os

    from ui.api import Access
    from ui.server import serve

    credentials = None
    if args.auth:
        print("porteparole: warning: a password given with --auth is visible to other users in the process list; "
              "prefer PORTEPAROLE_AUTH=user:password or --auth-file FILE", file=sys.stderr)
        credentials = _credentials(args.auth, "--auth")
    elif args.auth_file:
        try:
            credentials = _credentials(Path(args.auth_file).read_text(encoding="utf-8"), f"the first line of {args.auth_file}")
        except OSError as exc:
            print(f"porteparole: error: --auth-file {args.auth_file}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    elif os.environ.get("PORTEPAROLE_AUTH"):
        credentials = _credentials(os.environ["PORTEPAROLE_AUTH"], "PORTEPAROLE_AUTH")
    access = Access(credentials=credentials, token=os.environ.get("PORTEPAROLE_API_TOKEN") or None)
    serve(args.index, host=args.host, port=args.port, access=access, generator=args.generator,
          uploads=not args.read_only, allow_open=args.no_auth)
    return EXIT_OK


def cmd_eval(args) -> int:
    from eval.run import run_from_cli

    return run_from_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porteparole",
        description="Bilingual (French/English) question answering over press releases, offline.",
        epilog="Example: porteparole ingest communiques/ --index my-index && "
               "porteparole search \"Qui a signé l'entente ?\" --index my-index",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="add or update communiqués in an index",
                       description="Read .txt .md .html .pdf .docx files and .jsonl bulk records (folders are walked "
                                   "recursively) and bring the index up to date. Unchanged files cost nothing; "
                                   "bad files are skipped and listed (exit status 1).")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (none: only apply --metadata)")
    p.add_argument("--index", required=True, metavar="DIR|URL", help="index directory (created if missing), or a "
                   "postgresql:// URL (tables created if missing; see the README)")
    p.add_argument("--issuer", metavar="NAME", help="issuer for communiqués whose text names none")
    p.add_argument("--metadata", metavar="FILE.csv",
                   help="set title/date/issuer/lang/url by doc_id from a UTF-8 CSV with a header row "
                        "(doc_id,title,date,issuer,...); kept when unchanged files are ingested again")
    p.add_argument("--prune", action="store_true", help="remove documents whose files are gone")
    p.add_argument("--rebuild", action="store_true",
                   help="first write a new generation from the stored documents (chunks and vectors made again; "
                        "for a damaged index, see porteparole check)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("check", help="verify an index on disk",
                       description="Check the manifest, the current generation (counts, document hashes, every "
                                   "passage's offsets, vectors, FAISS size) and the fallback generation. Changes "
                                   "nothing; exit status 1 when a problem is found.")
    p.add_argument("--index", required=True, metavar="DIR|URL", help=INDEX_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("search", help="find passages for a question or keywords",
                       description="Hybrid (dense + BM25) search; a question in English finds French passages and vice versa.")
    p.add_argument("query")
    p.add_argument("--index", required=True, metavar="DIR|URL", help=INDEX_HELP)
    p.add_argument("-k", type=int, default=10, help="number of results (1-1000, default 10)")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid", help="retrieval method (default hybrid)")
    p.add_argument("--documents", action="store_true", help="one result per document (its best passage)")
    p.add_argument("--releases", action="store_true",
                   help="a release published in French and English counts once: its passages come from the "
                        "version in the query's language (other versions are listed under each result either way)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_filter_options(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("info", help="what an index holds",
                       description="Documents, passages, languages, dates, issuers and model of an index, and the "
                                   "documents whose title, date or issuer is missing or inferred (to check).")
    p.add_argument("--index", required=True, metavar="DIR|URL", help=INDEX_HELP)
    p.add_argument("--all", action="store_true", help="list every document whose metadata is to check (default: 20)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("ask", help="answer a question with cited sources",
                       description="Answer a French or English question in its language, from the index, with numbered "
                                   "citations quoting the sources verbatim; says so when the sources do not answer.")
    p.add_argument("question")
    p.add_argument("--index", required=True, metavar="DIR|URL", help=INDEX_HELP)
    p.add_argument("--generator", choices=["llm", "extractive"], default="llm",
                   help="llm: the packaged Qwen2.5 1.5B model (default); extractive: quote the best sentences, no model")
    p.add_argument("--json", action="store_true", help="machine-readable output (answer, citations, hits, timings)")
    _add_filter_options(p)
    dates = p.add_argument_group("dates in the question",
                                 "A time expression in the question (\"in 2019\", \"since March 2021\", \"l'an dernier\", "
                                 "\"the latest ...\") ranks the releases of that period first; the others stay listed. "
                                 "For a hard limit, use --since/--until.")
    dates.add_argument("--today", type=_iso_day, metavar="DATE",
                       help="read \"last year\", \"this year\" ... against DATE (YYYY-MM-DD) instead of today")
    dates.add_argument("--ignore-question-dates", action="store_true", help="rank without the question's dates")
    p.add_argument("--no-newer-values", action="store_true",
                   help="do not check the cited figures against the same issuer's newer releases (saves about "
                        "0.5 s per cited quote; by default a figure given otherwise by a newer release, or by "
                        "another cited source, is shown under the answer)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("timeline", help="the releases about a subject, in date order",
                       description="The releases about SUBJECT (French or English) in date order, each with its date, "
                                   "issuer, title and its most relevant sentence, quoted verbatim; no model is asked. "
                                   "Example: porteparole timeline \"producer and import price index\" --index DIR "
                                   "--markdown timeline.md")
    p.add_argument("subject")
    p.add_argument("--index", required=True, metavar="DIR|URL", help=INDEX_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output (entries with their citations)")
    p.add_argument("--markdown", metavar="FILE", help="also write the timeline as Markdown with its references to FILE")
    _add_filter_options(p)
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("serve", help="open the chat in the browser, and the JSON API",
                       description="Start the web chat (Gradio) and the JSON HTTP API (/api, documented at /api/docs) "
                                   "over an index, on one port. Binds to 127.0.0.1 unless --host says otherwise; "
                                   "beyond this machine, credentials are required unless --no-auth.",
                       epilog="Credentials: PORTEPAROLE_AUTH=user:password (or --auth-file) protects the chat and the "
                              "API (HTTP basic); PORTEPAROLE_API_TOKEN=... also lets scripts call the API with "
                              "'Authorization: Bearer ...'.")
    p.add_argument("--index", required=True, metavar="DIR|URL", help=INDEX_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth-file", metavar="FILE", help="a file whose first line is USER:PASSWORD")
    p.add_argument("--auth", metavar="USER:PASS", help="credentials on the command line (visible in ps: prefer the environment)")
    p.add_argument("--no-auth", action="store_true", help="serve beyond 127.0.0.1 without credentials (anyone reaching it can ask and upload)")
    p.add_argument("--read-only", action="store_true", help="no uploads: neither the chat's Index tab nor POST /api/ingest")
    p.add_argument("--generator", choices=["llm", "extractive"], default="llm")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="measure retrieval and answer quality; fail below thresholds",
                       description="Run the evaluation suite on a data directory (the format of ../shared/evaldata), "
                                   "print a table, write report.json, report.md and plots, and exit 1 when a metric "
                                   "is below eval/thresholds.toml.")
    p.add_argument("--data", metavar="DIR", help="evaluation data directory (default: ../shared/evaldata next to the repo)")
    p.add_argument("--sample", type=int, metavar="N", help="answer-quality questions per set (default: as in thresholds.toml)")
    p.add_argument("--generator", choices=["llm", "extractive"], default="llm")
    p.add_argument("--out", metavar="DIR", default="eval-out", help="where to write the report (default eval-out)")
    p.add_argument("--ci", action="store_true", help="the CI configuration: full retrieval set, both generators, thresholds enforced")
    p.add_argument("--sets", default="retrieval,metadata,time,versions,timeline,updates,seeds,piaf,journalists", metavar="LIST",
                   help="comma-separated parts to run (default all): retrieval, metadata (titles and issuers "
                        "found from the text alone), time (questions whose right release depends on a date), "
                        "versions (French and English versions of one release linked; releases among the "
                        "sources), timeline (the releases of recurring series found by a timeline), updates (cited figures "
                        "that a newer release gives otherwise, flagged), seeds, piaf, journalists (the Swiss journalist questions); "
                        "thresholds of parts not run are not checked")
    p.set_defaults(func=cmd_eval)
    return parser


def _warn_of_password_in_url(location) -> None:
    """A password inside ``--index postgresql://user:pass@…`` is visible to every user in ``ps``."""
    from urllib.parse import urlsplit

    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        if urlsplit(location).password:
            print("porteparole: warning: the --index URL carries a password, visible in ps; "
                  "put it in PGPASSWORD or ~/.pgpass instead", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from ingest import PorteParoleError

    parser = build_parser()
    args = parser.parse_args(argv)
    _warn_of_password_in_url(getattr(args, "index", None))
    try:
        return args.func(args)
    except PorteParoleError as exc:
        print(f"porteparole: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("porteparole: interrupted; the index is unchanged unless the write had finished.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
