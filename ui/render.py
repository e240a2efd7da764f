"""HTML for the chat: answers with citation links, source cards with highlighted quotes.

Every piece of document or model text goes through :func:`html.escape` before it is placed in
markup: a communiqué that contains HTML or a script is shown as text, never run.
"""

from __future__ import annotations

import html
import re

from assistant import Answer, Citation
from assistant.prompts import written_date
from index import Hit

LABELS = {
    "fr": {
        "sources": "Sources citées", "retrieved": "Passages trouvés", "full": "Voir le communiqué complet",
        "refused": "Pas de réponse dans les communiqués", "closest": "Passages les plus proches",
        "undated": "sans date", "unknown_issuer": "émetteur inconnu", "searching": "Recherche des sources…",
        "none": "Aucun passage ne correspond (vérifiez les filtres).", "draft": "brouillon, en cours de vérification",
        "derived": "titre tiré de la première phrase", "speaker": "d'après la première phrase",
        "flag": "indiqué à l'import", "folder": "d'après le dossier", "set": "saisi par la rédaction",
        "added_by": "ajouté par",
        "dates": "Dates :", "no_release": "Aucun communiqué trouvé sur ce sujet.",
        "version": {"fr": "Version française", "en": "Version anglaise"},
        "version_note": "le même communiqué dans l'autre langue ; le passage correspondant est surligné",
        "newer": "Communiqués plus récents",
        "scope": "Les communiqués de cette période passent en premier ; décochez « Tenir compte des dates de la question » "
                 "(Filtrer les sources) pour classer sans.",
    },
    "en": {
        "sources": "Cited sources", "retrieved": "Passages found", "full": "Show the whole communiqué",
        "refused": "No answer in the communiqués", "closest": "Closest passages",
        "undated": "undated", "unknown_issuer": "issuer unknown", "searching": "Finding sources…",
        "none": "No passage matches (check the filters).", "draft": "draft, being checked",
        "derived": "title from the first sentence", "speaker": "from the first sentence",
        "flag": "given at import", "folder": "from the folder name", "set": "set by staff",
        "added_by": "added by",
        "dates": "Dates:", "no_release": "No release found on this subject.",
        "version": {"fr": "French version", "en": "English version"},
        "version_note": "the same release in the other language; the matching passage is highlighted",
        "newer": "Newer releases",
        "scope": "Releases of this period come first; untick \u201cUse the dates in the question\u201d (Filter the sources) "
                 "to rank without it.",
    },
}


def _labels(lang: str) -> dict:
    return LABELS.get(lang, LABELS["en"])


# Enough to stop links, images, emphasis and code; fewer escapes keep the chat's copy button clean.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]!])")


def as_plain_text(text: str) -> str:
    r"""Text from a document or the model, safe inside Markdown: HTML escaped and Markdown syntax
    neutralised, so a communiqué's ``[link](…)`` or remote ``![](…)`` image is shown as written.

    Example:
        >>> print(as_plain_text("Voir ![x](https://e.x/i.png) <b>"))
        Voir \!\[x\](https://e.x/i.png) &lt;b&gt;
    """
    return _MARKDOWN_SYNTAX.sub(r"\\\1", html.escape(text))


def answer_markdown(answer: Answer) -> str:
    """The answer for the chat bubble: plain text, each [n] a link to its source card."""
    labels = _labels(answer.language)
    if answer.refused:
        return f"**{labels['refused']}.** {as_plain_text(answer.text)}"
    notes = "".join(f"\n\n⚠ {_linked(note)}" for note in answer.update_notes())
    return _linked(answer.text) + notes


def _linked(text: str) -> str:
    """``text`` as plain text, each [n] a link to source card n."""
    parts = re.split(r"\[(\d+)\]", text)
    # re.split alternates text and the captured citation numbers.
    return "".join(as_plain_text(part) if i % 2 == 0 else f'<a href="#pp-src-{part}" class="pp-cite">[{part}]</a>'
                   for i, part in enumerate(parts))


def draft_markdown(text: str, lang: str) -> str:
    return f"{as_plain_text(text)}\n\n<span class='pp-draft'>({_labels(lang)['draft']})</span>"


def _paragraph_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    before = text.rfind("\n\n", 0, start)
    after = text.find("\n\n", end)
    lo = 0 if before < 0 else before + 2
    hi = len(text) if after < 0 else after
    # Very long paragraphs are cut around the quote so the card stays readable.
    lo = max(lo, start - 400)
    hi = min(hi, end + 400)
    return lo, hi


def _highlight(text: str, start: int, end: int, lo: int, hi: int, mark_id: str = "") -> str:
    ident = f' id="{mark_id}"' if mark_id else ""
    return (
        ("…" if lo > 0 and text[lo - 1] not in "\n" else "")
        + html.escape(text[lo:start])
        + f"<mark{ident}>" + html.escape(text[start:end]) + "</mark>"
        + html.escape(text[end:hi])
        + ("…" if hi < len(text) and text[hi] not in "\n" else "")
    )


def _inferred(doc, name: str, lang: str) -> str:
    """A small note saying how an inferred field was obtained ("title from the first sentence")."""
    how = doc.origin.get(name, "") if doc is not None else ""
    label = _labels(lang).get(how) if how in ("derived", "speaker", "flag", "folder", "set") else None
    return f' <span class="pp-inferred">({html.escape(label)})</span>' if label else ""


def _title(title: str, doc, fallback: str, lang: str) -> str:
    return f'<span class="pp-title">{html.escape(title or fallback)}{_inferred(doc, "title", lang)}</span>'


def _meta(doc, lang: str) -> str:
    labels = _labels(lang)
    issuer = html.escape(doc.issuer) + _inferred(doc, "issuer", lang) if doc.issuer else labels["unknown_issuer"]
    rest = [doc.date or labels["undated"], (doc.lang or "?").upper(), doc.doc_id]
    if getattr(doc, "added_by", ""):
        rest.append(f"{labels['added_by']} {doc.added_by}, {doc.added_at[:16].replace('T', ' ')} UTC")
    return " · ".join([issuer] + [html.escape(p) for p in rest])


#: Characters of the document shown on each side of a quote under "Show the whole communiqué":
#: a card must stay small even for a document of megabytes (six cards each embedding it would not).
FULL_TEXT_WINDOW = 20_000


def _window(text: str, start: int, end: int) -> tuple[int, int]:
    return max(0, start - FULL_TEXT_WINDOW), min(len(text), end + FULL_TEXT_WINDOW)


def versions_switch(versions, lang: str) -> str:
    """The release's other language versions (:class:`index.types.OtherVersion`), each a fold-out
    with its title, metadata and the passage matching the one shown, highlighted in its full text."""
    labels = _labels(lang)
    parts = []
    for version in versions:
        doc, chunk = version.document, version.chunk
        name = labels["version"].get(doc.lang, (doc.lang or "?").upper())
        lo, hi = _paragraph_bounds(doc.text, chunk.char_start, chunk.char_end) if doc.text else (chunk.char_start, chunk.char_end)
        passage = (_highlight(doc.text, chunk.char_start, chunk.char_end, lo, hi) if doc.text
                   else html.escape(chunk.text))
        parts.append(
            f'<details class="pp-version" lang="{html.escape(doc.lang, quote=True)}">'
            f'<summary>{html.escape(name)} <span class="pp-version-note">— {html.escape(labels["version_note"])}</span></summary>'
            f'<div class="pp-card-head">{_title(doc.title, doc, doc.doc_id, lang)}</div>'
            f'<div class="pp-meta">{_meta(doc, lang)}</div>'
            f'<blockquote class="pp-context">{passage}</blockquote></details>'
        )
    return "".join(parts)


def citation_card(citation: Citation, document_text: str, document, lang: str, versions=(), anchor: str = "pp-src") -> str:
    labels = _labels(lang)
    lo, hi = _paragraph_bounds(document_text, citation.char_start, citation.char_end)
    context = _highlight(document_text, citation.char_start, citation.char_end, lo, hi)
    full = _highlight(document_text, citation.char_start, citation.char_end,
                      *_window(document_text, citation.char_start, citation.char_end), f"{anchor}-mark-{citation.n}")
    title = _title(citation.title, document, citation.doc_id, lang)
    link = f' <a href="{html.escape(citation.url, quote=True)}" target="_blank" rel="noopener">↗</a>' if citation.url.startswith(("http://", "https://")) else ""
    return (
        f'<div class="pp-card" id="{anchor}-{citation.n}">'
        f'<div class="pp-card-head"><span class="pp-num">{citation.n}</span>{title}{link}</div>'
        f'<div class="pp-meta">{_meta(document, lang)}</div>'
        f'<blockquote class="pp-context">{context}</blockquote>'
        f'<details class="pp-doc"><summary>{labels["full"]}</summary><div class="pp-full">{full}</div></details>'
        f"{versions_switch(versions, lang)}</div>"
    )


def hit_card(hit: Hit, lang: str, rank_label: str = "") -> str:
    labels = _labels(lang)
    doc = hit.document
    title = _title(doc.title, doc, hit.doc_id, lang)
    snippet = html.escape(" ".join(hit.chunk.text.split())[:360]) + ("…" if len(hit.chunk.text) > 360 else "")
    full = _highlight(doc.text, hit.chunk.char_start, hit.chunk.char_end,
                      *_window(doc.text, hit.chunk.char_start, hit.chunk.char_end), f"pp-hit-{hit.rank}")
    return (
        f'<div class="pp-card pp-hit">'
        f'<div class="pp-card-head"><span class="pp-num pp-num-hit">{rank_label or hit.rank}</span>{title}</div>'
        f'<div class="pp-meta">{_meta(doc, lang)}</div>'
        f'<div class="pp-snippet">{snippet}</div>'
        f'<details class="pp-doc"><summary>{labels["full"]}</summary><div class="pp-full">{full}</div></details>'
        f"{versions_switch(hit.other_versions, lang)}</div>"
    )


def timeline_panel(timeline) -> str:
    """The Timeline tab (:class:`assistant.timeline.Timeline`): one card per release, oldest first,
    each led by its date and holding its most relevant sentence, highlighted in the full text."""
    lang = timeline.language
    labels = _labels(lang)
    heading = "Chronologie" if lang == "fr" else "Timeline"
    parts = [f'<div class="pp-panel pp-timeline" data-entries="{len(timeline.entries)}">',
             f'<h3 class="pp-h">{heading} · {html.escape(timeline.subject)} · {len(timeline.entries)}</h3>']
    if not timeline.entries:
        parts.append(f'<p class="pp-empty">{labels["no_release"]}</p>')
    for entry in timeline.entries:
        doc = entry.hit.document
        when = written_date(doc.date, lang) if doc.date else labels["undated"]
        parts.append(f'<div class="pp-tl-date">{html.escape(when)}</div>')
        parts.append(citation_card(entry.citation, doc.text, doc, lang, entry.hit.other_versions, anchor="pp-tl"))
    parts.append("</div>")
    return "".join(parts)


def scope_chip(scope, lang: str) -> str:
    """The question's dates as applied (:class:`assistant.time_scope.TimeScope`), shown above the sources."""
    if scope is None:
        return ""
    return (f'<div class="pp-scope" title="{html.escape(_labels(lang)["scope"])}"><b>{_labels(lang)["dates"]}</b> '
            f'{html.escape(scope.label(lang))}<span class="pp-scope-help"> — {html.escape(_labels(lang)["scope"])}</span></div>')


def sources_panel(lang: str, hits: list[Hit] | None = None, answer: Answer | None = None, documents=None, turn: int = 0,
                  scope=None) -> str:
    """The right-hand panel: cited sources first (after the answer), then the other passages found.

    ``data-turn`` and ``data-state`` (searching / retrieved / answered) let tests and scripts wait
    for a given question's result.
    """
    labels = _labels(lang)
    state = "searching" if hits is None else ("answered" if answer is not None else "retrieved")
    if hits is None:
        return f'<div class="pp-panel pp-empty" data-turn="{turn}" data-state="{state}">{labels["searching"]}</div>'
    parts = [f'<div class="pp-panel" data-turn="{turn}" data-state="{state}">', scope_chip(scope, lang)]
    cited_docs = set()
    if answer is not None and answer.citations and not answer.refused:
        parts.append(f'<h3 class="pp-h">{labels["sources"]}</h3>')
        for citation in answer.citations:
            doc = documents[citation.doc_id]
            cited_docs.add(citation.doc_id)
            parts.append(citation_card(citation, doc.text, doc, lang, answer.other_versions(citation)))
        newer = [u.citation for u in answer.updates if u.kind == "newer" and u.citation.doc_id in documents]
        if newer:
            parts.append(f'<h3 class="pp-h">{labels["newer"]}</h3>')
            for citation in newer:
                doc = documents[citation.doc_id]
                cited_docs.add(citation.doc_id)
                parts.append(citation_card(citation, doc.text, doc, lang))
    if not hits:
        parts.append(f'<p class="pp-empty">{labels["none"]}</p>')
    else:
        heading = labels["closest"] if (answer is not None and answer.refused) else labels["retrieved"]
        parts.append(f'<h3 class="pp-h">{heading}</h3>')
        parts.extend(hit_card(hit, lang) for hit in hits)
    parts.append("</div>")
    return "".join(parts)


CSS = """
.pp-panel { font-size: 14px; line-height: 1.45; }
.pp-scope { display: inline-block; background: #eef4ff; border: 1px solid #c9d9f5; border-radius: 12px; padding: 2px 10px;
            margin: 4px 0 6px; font-size: 13px; }
.pp-scope-help { color: #555; font-size: 12px; }
.pp-h { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #555; margin: 8px 0 6px; }
.pp-card { border: 1px solid #d9dde3; border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; background: #fff; }
.pp-hit { background: #fafbfc; }
.pp-card-head { display: flex; gap: 8px; align-items: baseline; font-weight: 600; }
.pp-num { background: #1d4ed8; color: #fff; border-radius: 4px; padding: 0 7px; font-size: 12px; flex: none; }
.pp-num-hit { background: #6b7280; }
.pp-title { color: #111827; }
.pp-inferred { color: #6b7280; font-size: 0.85em; font-style: italic; }
.pp-meta { color: #4b5563; font-size: 12px; margin: 4px 0 6px; word-break: break-word; }
.pp-context { margin: 6px 0; padding: 6px 10px; border-left: 3px solid #1d4ed8; background: #f3f6fd; white-space: pre-wrap; }
.pp-snippet { color: #374151; }
.pp-full { white-space: pre-wrap; max-height: 320px; overflow-y: auto; padding: 8px; background: #fff; border: 1px solid #e5e7eb; border-radius: 6px; margin-top: 6px; }
mark { background: #fde68a; padding: 0 1px; }
.pp-doc summary, .pp-version summary { cursor: pointer; color: #1d4ed8; font-size: 13px; margin-top: 4px; }
.pp-version { border-top: 1px dashed #d9dde3; margin-top: 6px; padding-top: 4px; }
.pp-version-note { color: #6b7280; font-size: 12px; }
.pp-cite { font-weight: 600; text-decoration: none; }
.pp-draft { color: #6b7280; font-size: 12px; }
.pp-empty { color: #6b7280; }
.pp-tl-date { font-weight: 700; color: #1d4ed8; margin: 12px 0 4px; }
:root.dark .pp-card, .dark .pp-card { background: #111827; border-color: #374151; }
.dark .pp-title { color: #f9fafb; } .dark .pp-context { background: #1e293b; } .dark .pp-full { background: #0b1220; }
"""

# Opening a card's full text scrolls its highlighted span into view.
HEAD = """
<script>
document.addEventListener('toggle', function (event) {
  var el = event.target;
  if (el && el.matches && el.matches('details.pp-doc') && el.open) {
    var mark = el.querySelector('mark');
    if (mark) { mark.scrollIntoView({block: 'center', behavior: 'smooth'}); }
  }
}, true);
</script>
"""
