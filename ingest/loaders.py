"""Read one file into text plus any metadata its format carries, one reader per format.

Formats are parsed by well-kept libraries (lxml, pypdf, python-docx); this module only
decides what counts as the communiqué's text and raises :class:`LoadError` with a reason a person
can act on when a file cannot be read.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import LoadError
from .metadata import find_title, strip_line_ends, strip_markup

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".jsonl")
# Larger files are almost certainly not a communiqué (or a JSONL bulk file, which has its own limit).
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_JSONL_BYTES = 2 * 1024 * 1024 * 1024
MAX_PDF_PAGES = 500
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 2000


@dataclass
class Extracted:
    """Text and format-level metadata of one communiqué, before text-based extraction."""

    text: str
    title: str = ""
    date: str = ""
    issuer: str = ""
    lang: str = ""
    url: str = ""
    doc_id: str = ""
    release_id: str = ""
    line_number: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class JsonlProblem:
    """A malformed line of a JSONL bulk file (reported, the rest of the file still loads)."""

    line_number: int
    reason: str


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = strip_line_ends(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoadError(str(path), f"file is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit for one communiqué")
        return path.read_bytes()
    except PermissionError as exc:
        raise LoadError(str(path), "permission denied (cannot read the file)") from exc
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc


def decode_text(path: Path, data: bytes) -> str:
    """Decode UTF-8 text (with or without BOM) or UTF-16 with a BOM; binary or other encodings are
    refused clearly."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError(str(path), f"starts as UTF-16 but is not valid UTF-16 (byte {exc.start})") from exc
    head = data[:8192]
    if b"\x00" in head:
        # Every other byte NUL: UTF-16 text that lost its byte-order mark.
        if len(head) >= 4 and (head[1::2].count(0) > 0.9 * len(head[1::2]) or head[0::2].count(0) > 0.9 * len(head[0::2])):
            raise LoadError(str(path), "looks like UTF-16 text without a byte-order mark; save it as UTF-8 "
                                       f"(e.g. `iconv -f UTF-16LE -t UTF-8 '{path.name}' > fixed.txt`)")
        raise LoadError(str(path), "looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            str(path),
            f"not valid UTF-8 (byte {exc.start}); convert it first, e.g. "
            f"`iconv -f WINDOWS-1252 -t UTF-8 '{path.name}' > fixed.txt`",
        ) from exc


def _require_text(path: Path, text: str) -> str:
    if not text.strip():
        raise LoadError(str(path), "no text in the file (empty, or a scanned image without a text layer)")
    return text


def load_plain(path: Path) -> Extracted:
    """.txt and .md: Markdown-style headings and bold lines give the title; markup is removed."""
    raw = decode_text(path, _read_bytes(path))
    raw = _normalise(raw)
    _require_text(path, raw)
    return Extracted(text=_require_text(path, strip_markup(raw)), title=find_title(raw))


# Elements whose text is a paragraph of its own; their inline children's text joins theirs.
_HTML_BLOCKS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "td", "th", "dd", "dt",
                "div", "section", "article", "main", "body", "figcaption", "caption"}
_HTML_DROPPED = ("script", "style", "noscript", "nav", "header", "footer", "form", "template", "iframe", "svg")


def html_blocks(root) -> list[str]:
    """The text of every block element, in document order, each character visited once.

    (Asking each block for all its text repeats nested blocks' text: 50,000 nested
    ``<blockquote>`` took many minutes. This walk is linear in the document.)
    """
    from lxml import etree

    blocks: list[list[str]] = []
    open_blocks: list[list[str]] = [[]]  # the innermost block collects text; [0] is outside any block
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(element.tag, str):  # comments and processing instructions
            if event == "end" and element.tail:
                open_blocks[-1].append(element.tail)
            continue
        is_block = element.tag.lower() in _HTML_BLOCKS
        if event == "start":
            if is_block:
                open_blocks.append([])
                blocks.append(open_blocks[-1])
            if element.text:
                open_blocks[-1].append(element.text)
        else:
            if is_block:
                open_blocks.pop()
            if element.tail:
                open_blocks[-1].append(element.tail)
    outside = [open_blocks[0]] if open_blocks and open_blocks[0] else []
    return [text for parts in blocks + outside if (text := " ".join(" ".join(parts).split()))]


def load_html(path: Path) -> Extracted:
    """.html: the text of its blocks, the ``<h1>`` (else ``<title>``) as title, the published date and URL from meta tags."""
    from lxml import etree, html as lxml_html

    raw = decode_text(path, _read_bytes(path))
    try:
        root = lxml_html.document_fromstring(raw)
    except (etree.ParserError, ValueError) as exc:
        raise LoadError(str(path), f"not readable as HTML ({exc})") from exc
    meta = {(tag.get("property") or tag.get("name") or "").lower(): tag.get("content", "") or "" for tag in root.iter("meta")}
    title_tag = root.find(".//title")
    page_title = " ".join(title_tag.text_content().split()) if title_tag is not None else ""
    time_tag = root.find(".//time")
    date = meta.get("article:published_time", "") or (time_tag.get("datetime", "") if time_tag is not None else "")
    for tag in list(root.iter(*_HTML_DROPPED)):
        tag.drop_tree()
    heading = root.find(".//h1")
    title = " ".join(heading.text_content().split()) if heading is not None else page_title
    body = root.find("body")
    text = "\n\n".join(html_blocks(body if body is not None else root))
    return Extracted(
        text=_require_text(path, _normalise(text)),
        title=_normalise(title),
        date=date[:10],
        url=meta.get("og:url", ""),
        lang=(root.get("lang") or "")[:2].lower(),
    )


def load_pdf(path: Path) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise LoadError(str(path), "the PDF is encrypted; save an unprotected copy first")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise LoadError(str(path), f"the PDF has {len(reader.pages):,} pages; the limit for one communiqué is "
                                       f"{MAX_PDF_PAGES}")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else "") or ""
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise LoadError(str(path), f"not a readable PDF ({exc})") from exc
    text = _require_text(path, _normalise("\n\n".join(pages)))
    return Extracted(text=text, title=_normalise(title))


def check_zip_members(path: Path) -> None:
    """Refuse a .docx whose parts would decompress to more than :data:`MAX_UNZIPPED_BYTES` (a zip
    bomb), from the sizes its directory declares, before anything decompresses them."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LoadError(str(path), f"not a readable .docx file ({exc})") from exc
    total = sum(member.file_size for member in members)
    if len(members) > MAX_ZIP_MEMBERS or total > MAX_UNZIPPED_BYTES:
        raise LoadError(str(path), f"the .docx would unpack to {total / 2**20:,.0f} MiB in {len(members):,} parts "
                                   f"(limits {MAX_UNZIPPED_BYTES // 2**20} MiB, {MAX_ZIP_MEMBERS} parts): refused")


def load_docx(path: Path) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_zip_members(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, ValueError, KeyError, OSError) as exc:
        raise LoadError(str(path), f"not a readable .docx file ({exc})") from exc
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    title = ""
    for paragraph in paragraphs:
        style = (paragraph.style.name or "").lower() if paragraph.style is not None else ""
        bold = paragraph.runs and all(run.bold for run in paragraph.runs if run.text.strip())
        if style.startswith(("title", "heading", "titre")) or bold:
            candidate = paragraph.text.strip()
            if len(candidate) >= 8 and candidate.lower() not in {"communiqué de presse", "press release"}:
                title = candidate
                break
    if not title and document.core_properties.title:
        title = document.core_properties.title
    text = _require_text(path, _normalise("\n\n".join(p.text for p in paragraphs)))
    return Extracted(text=text, title=_normalise(title))


JSONL_FIELDS = ("doc_id", "text", "title", "date", "issuer", "lang", "url")


def iter_jsonl(path: Path) -> Iterator[Extracted | JsonlProblem]:
    """Yield one :class:`Extracted` per valid record and one :class:`JsonlProblem` per bad line."""
    try:
        if path.stat().st_size > MAX_JSONL_BYTES:
            raise LoadError(str(path), "JSONL file over 2 GiB; split it")
        handle = open(path, "rb")
    except OSError as exc:
        raise LoadError(str(path), f"cannot read the file ({exc.strerror or exc})") from exc
    with handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                record = json.loads(raw_line.decode("utf-8-sig"))
            except UnicodeDecodeError:
                yield JsonlProblem(number, "not valid UTF-8")
                continue
            except json.JSONDecodeError as exc:
                yield JsonlProblem(number, f"not valid JSON ({exc.msg}, column {exc.colno})")
                continue
            if not isinstance(record, dict):
                yield JsonlProblem(number, "a JSON object was expected")
                continue
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                yield JsonlProblem(number, "missing or empty \"text\"")
                continue
            values = {name: record.get(name) or "" for name in JSONL_FIELDS}
            if isinstance(record.get("release_id"), (str, int)) and not isinstance(record.get("release_id"), bool):
                # Shared by the language versions of one release; a number is as good as a string.
                values["release_id"] = str(record["release_id"]).strip()
            bad = [name for name, value in values.items() if not isinstance(value, str)]
            if bad:
                yield JsonlProblem(number, f"fields must be strings: {', '.join(bad)}")
                continue
            values["text"] = _normalise(text)
            values["title"] = values["title"].strip()
            yield Extracted(**values, line_number=number)


READERS = {
    ".txt": load_plain,
    ".md": load_plain,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}
