"""CivitAI descriptions as safe rich text: an allow-list sanitizer and a browser that loads nothing.

Descriptions are third-party HTML. They are shown in a QTextBrowser (no JavaScript engine at all),
after a sanitizer keeps only formatting tags and http(s)/mailto links and drops scripts, styles,
frames, forms, event handlers and images; on top of that `loadResource` refuses every URL, so no
remote (or local) resource is ever fetched, whatever slips through.
"""
from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any

from PySide6.QtCore import QByteArray, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QTextBrowser, QWidget

ALLOWED_TAGS = frozenset({
    "p", "br", "b", "i", "u", "s", "strong", "em", "del", "ins", "sub", "sup", "small", "mark",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "code", "pre", "hr",
    "a", "span", "div", "table", "thead", "tbody", "tr", "th", "td",
})
VOID_TAGS = frozenset({"br", "hr"})
# Everything inside these is dropped, text included.
DROP_CONTENT_TAGS = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template",
                               "svg", "math", "form", "select", "textarea", "head", "title"})
SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag in DROP_CONTENT_TAGS:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "img":
            alt = dict(attrs).get("alt") or "image"
            self.out.append(f"[{html.escape(alt)}]")
            return
        if tag not in ALLOWED_TAGS:
            return
        attr_text = ""
        if tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            if href.lower().startswith(SAFE_SCHEMES):
                attr_text = f' href="{html.escape(href, quote=True)}"'
        self.out.append(f"<{tag}{attr_text}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag.lower() in ALLOWED_TAGS and tag.lower() not in VOID_TAGS and self.open and self.open[-1] == tag.lower():
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in DROP_CONTENT_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth or tag not in self.open:
            return
        while self.open:
            current = self.open.pop()
            self.out.append(f"</{current}>")
            if current == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))


def sanitize_html(text: str | None) -> str:
    """Keep formatting and safe links; drop scripts, styles, handlers, images and unknown tags."""
    if not text:
        return ""
    parser = _Sanitizer()
    parser.feed(text)
    parser.close()
    return parser.result()


class SafeTextBrowser(QTextBrowser):
    """A QTextBrowser that never loads a resource; links open in the user's browser on click."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._open_link)
        self.refused: list[str] = []

    def loadResource(self, type: int, name: QUrl) -> Any:  # noqa: A002 - Qt's signature
        # An empty but *valid* answer: with None (an invalid QVariant) QTextDocument falls back to
        # reading local files itself, so `<img src="file:///etc/passwd">` would be read.
        self.refused.append(name.toString())
        return QByteArray()

    def set_description(self, raw_html: str | None) -> None:
        clean = sanitize_html(raw_html)
        self.setHtml(clean or "<i>No description.</i>")

    def _open_link(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
