"""A student's markdown made safe to render in formgrader, and still readable.

formgrader renders markdown with nbconvert's own renderer, which passes raw HTML through
(`IPythonRenderer(escape=False)`), keeps `javascript:` links and writes the body of a
```mermaid block into the page unescaped. Guessing what that renderer will do is how
sanitisers get bypassed, so the answer is checked by rendering it with that very renderer and
reading the HTML it makes: only the elements, attributes and URLs markdown itself produces may
appear. A source that fails is made safe in two steps, each checked again:
1. every `<` that could open a tag, outside code, is written `&lt;` (so `<script>` shows as
   text);
2. otherwise the whole answer is shown as a code block, literally;
and if even that fails, a fixed note replaces it. The grader's own release cells never pass
through here. This module imports nothing that runs in a kernel.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# what mistune and nbconvert's renderer produce for markdown (tables, task lists, pygments)
TAGS = {
    "a",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "img",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
ATTRIBUTES = {
    "href",
    "src",
    "alt",
    "title",
    "id",
    "class",
    "style",
    "start",
    "type",
    "disabled",
    "checked",
}
CLASSES = re.compile(
    r"highlight|anchor-link|task-list-item(-checkbox)?|language-[\w+.-]{1,30}|[a-z]{1,3}[0-9]?"
)
STYLES = re.compile(r"text-align:(left|right|center)")
LINK_SCHEMES = {"http", "https", "mailto"}
IMAGE_DATA = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]*")
# MathJax macros that make links, load extensions or set classes and styles
MATHJAX_MACROS = re.compile(r"\\(href|url|unicode|class|style|cssId|require|html)\b")
FORMGRADER_IDS = {"notebook", "notebook-container", "statusmessage"}
WITHHELD = "*(This answer could not be shown safely; read it in the submitted notebook.)*"

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_LITERAL_SPAN = re.compile(r"(`+).+?(?<!`)\1(?!`)|(\$\$?)[^$]+?\2")  # code, math


def safe_markdown(
    source: str, attachments: dict | None = None, reserved_ids: set[str] = frozenset()
) -> tuple[str, dict]:
    """(source, attachments) that render to harmless HTML in formgrader.

    attachments: the cell's attachments, already reduced to safe images (redaction.py); they
    are returned only if the source that renders safely still uses them.
    reserved_ids: element ids of the formgrader page (grade ids and their inputs) a student's
    heading must not take.
    """
    attachments = attachments or {}
    reserved = FORMGRADER_IDS | set(reserved_ids)
    for candidate, uses in ((escape_tags(source), attachments), (as_code_block(source), {})):
        if renders_safely(candidate, uses, reserved):
            return candidate, uses
    return WITHHELD, {}


def escape_tags(source: str) -> str:
    """`source` with every `<` that could open an HTML tag written `&lt;`, except in fenced
    code blocks, code spans and math, which the renderer escapes itself (a guess at where they
    are is enough: the result is checked)."""
    lines, fence = [], None
    for line in source.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                if not line[opening.end() :].strip():
                    fence = None
            lines.append(line)
        elif opening and not (opening.group(1)[0] == "`" and "`" in line[opening.end() :]):
            fence = opening.group(1)
            lines.append(line)
        else:
            lines.append(_escape_outside_spans(line))
    return "\n".join(lines)


def _escape_outside_spans(line: str) -> str:
    parts, last = [], 0
    for span in _LITERAL_SPAN.finditer(line):
        parts.append(_TAG_START.sub("&lt;", line[last : span.start()]))
        parts.append(span.group(0))
        last = span.end()
    parts.append(_TAG_START.sub("&lt;", line[last:]))
    return "".join(parts)


def as_code_block(source: str) -> str:
    """The source shown literally: an indented code block, which markdown never interprets."""
    body = "\n".join("    " + line.expandtabs(4) for line in source.split("\n"))
    return f"*(shown as written: it could not be rendered safely)*\n\n{body}"


def render(source: str, attachments: dict) -> str:
    """The HTML formgrader makes of a markdown cell (nbconvert's HTMLExporter.markdown2html
    with its default settings)."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments=attachments)
    return MarkdownWithMath(renderer=renderer).render(source)


def renders_safely(source: str, attachments: dict, reserved_ids: set[str]) -> bool:
    """Whether `source` renders to elements, attributes and URLs from the markdown whitelist,
    with no MathJax macro that links or styles, and no heading id the page uses."""
    try:
        page = render(source, attachments)
    except Exception:  # a missing attachment, a parser failure: formgrader would fail too
        return False
    checker = _Checker(reserved_ids)
    try:
        checker.feed(page)
        checker.close()
    except Exception:
        return False
    return checker.safe and not MATHJAX_MACROS.search(_outside_code(page))


def _outside_code(page: str) -> str:
    # MathJax skips <pre> and <code>: macros inside them stay text
    return re.sub(r"<(pre|code)\b.*?</\1>", "", page, flags=re.S)


class _Checker(HTMLParser):
    """Reads rendered HTML; `safe` turns False on anything markdown would not produce."""

    def __init__(self, reserved_ids: set[str]):
        super().__init__(convert_charrefs=True)
        self.reserved_ids = reserved_ids
        self.safe = True

    def handle_starttag(self, tag, attrs):
        if tag not in TAGS:
            self.safe = False
        for name, value in attrs:
            self.safe = self.safe and name in ATTRIBUTES and _value_ok(name, value or "", tag)
            if name == "id" and (value in self.reserved_ids or tag not in HEADINGS):
                self.safe = False

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag not in TAGS:
            self.safe = False

    def handle_comment(self, data):
        self.safe = False

    def handle_decl(self, decl):
        self.safe = False

    def handle_pi(self, data):
        self.safe = False

    def unknown_decl(self, data):
        self.safe = False


def _value_ok(name: str, value: str, tag: str) -> bool:
    if name == "class":
        return all(CLASSES.fullmatch(c) for c in value.split())
    if name == "style":
        return bool(STYLES.fullmatch(value.replace(" ", "")))
    if name == "type":
        return tag == "input" and value == "checkbox"
    if name == "href":
        return _url_ok(value)
    if name == "src":
        return bool(IMAGE_DATA.fullmatch(value)) or _url_ok(value)
    return True


def _url_ok(value: str) -> bool:
    """A URL without a scheme (relative, #anchor) or with http, https or mailto; browsers
    drop whitespace and control characters inside a scheme, so this does too."""
    compact = re.sub(r"[\x00-\x20\x7f]", "", value).lower()
    scheme = re.match(r"([^/?#]*):", compact)
    return scheme is None or scheme.group(1) in LINK_SCHEMES
