"""CivitAI descriptions as safe rich text: an allow-list sanitizer and a browser that loads nothing.

Descriptions are third-party HTML. They are shown in a QTextBrowser (no JavaScript engine at all),
after a sanitizer keeps only formatting tags and http(s)/mailto links and drops scripts, styles,
frames, forms, event handlers and images; on top of that `loadResource` refuses every URL (an
image gets a 1x1 placeholder, so Qt does not load its `src` itself), so no remote or local
resource is ever opened, whatever slips through.

Qt's rich-text layout grows quadratically with nesting (a 300 KB description of 100,000 nested
`<b>` held the GUI thread for over a minute), so what reaches Qt is bounded: the source is cut at
MAX_SOURCE_CHARS before parsing, elements nest at most MAX_DEPTH deep and there are at most
MAX_ELEMENTS of them (past either bound the text is kept, the tags are dropped), and the text stops
at MAX_TEXT_CHARS. sanitize_html is Qt-free and pure, so the details pane runs it off the GUI thread.
"""
from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QHelpEvent, QImage, QTextDocument
from PySide6.QtWidgets import QAbstractItemView, QTextBrowser, QToolTip, QWidget

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
# Far above a real description (a few KB), low enough that a hostile one costs at most ~0.2 s of
# parsing (off the GUI thread) and milliseconds of layout. TRUNCATED_MARK ends one that was cut.
MAX_SOURCE_CHARS = 100_000
MAX_DEPTH = 24
MAX_ELEMENTS = 5_000
MAX_TEXT_CHARS = 100_000
TRUNCATED_MARK = "<p><i>(description shortened)</i></p>"


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip_depth = 0
        self.elements = 0  # start tags written
        self.text_chars = 0  # characters of text written
        self.truncated = False

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
        if self.elements >= MAX_ELEMENTS or len(self.open) >= MAX_DEPTH:
            self.truncated = self.truncated or self.elements >= MAX_ELEMENTS
            return  # past a bound: the tag goes, its text stays
        self.elements += 1
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
        if self.skip_depth or self.text_chars >= MAX_TEXT_CHARS:
            return
        if self.text_chars + len(data) > MAX_TEXT_CHARS:
            data = data[: MAX_TEXT_CHARS - self.text_chars]
            self.truncated = True
        self.text_chars += len(data)
        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        closing = "".join(f"</{t}>" for t in reversed(self.open))
        return "".join(self.out) + closing + (TRUNCATED_MARK if self.truncated else "")


def sanitize_html(text: str | None) -> str:
    """Keep formatting and safe links; drop scripts, styles, handlers, images and unknown tags.
    The result is bounded: MAX_DEPTH, MAX_ELEMENTS, MAX_TEXT_CHARS (see the module docstring)."""
    if not text:
        return ""
    parser = _Sanitizer()
    source = text[:MAX_SOURCE_CHARS]
    if len(text) > MAX_SOURCE_CHARS and source.rfind("<") > source.rfind(">"):
        source = source[: source.rfind("<")]  # not half a tag, which would show as text
    parser.feed(source)
    parser.close()
    if len(text) > MAX_SOURCE_CHARS:
        parser.truncated = True
    return parser.result()


def plain_tooltip(text: str) -> str:
    """A tool tip that shows `text` literally: Qt renders a tool tip that looks like rich text as
    rich text (and loads its images), so the text is escaped inside an explicit rich-text block."""
    return f"<qt>{html.escape(text)}</qt>" if text else ""


class PlainToolTips(QObject):
    """Shows an item view's tool tips (its model's ToolTipRole) as literal text: a cell holding
    `<img src="/a/fifo">` would otherwise be rendered as rich text, on hover, by the GUI thread."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self.view = view
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() != QEvent.Type.ToolTip or not isinstance(event, QHelpEvent):
            return False
        index = self.view.indexAt(event.pos())
        text = index.data(Qt.ItemDataRole.ToolTipRole) if index.isValid() else None
        if text:
            QToolTip.showText(event.globalPos(), plain_tooltip(str(text)), self.view.viewport())
        else:
            QToolTip.hideText()
        return True


def _resource_type(value: Any) -> int:
    return int(getattr(value, "value", value))


_PLACEHOLDER: list[QImage] = []


def _placeholder_image() -> QImage:
    if not _PLACEHOLDER:
        image = QImage(1, 1, QImage.Format.Format_ARGB32)
        image.fill(0)
        _PLACEHOLDER.append(image)
    return _PLACEHOLDER[0]


class SafeTextBrowser(QTextBrowser):
    """A QTextBrowser that never loads a resource; links open in the user's browser on click."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._open_link)
        self.refused: list[str] = []
        self.shown_html = ""

    def loadResource(self, type: int, name: QUrl) -> Any:  # noqa: A002 - Qt's signature
        # A valid answer that is not null: with None (an invalid QVariant) QTextDocument reads
        # local files itself, and for an image an empty or null answer makes Qt's image handler
        # "try direct loading" of the src (QImage.load), so `<img src="/a/fifo">` would block the
        # GUI thread. An image gets a 1x1 transparent placeholder; anything else, empty bytes.
        self.refused.append(name.toString())
        if _resource_type(type) == QTextDocument.ResourceType.ImageResource.value:
            return _placeholder_image()
        return QByteArray()

    def set_description(self, raw_html: str | None) -> None:
        self.set_clean_description(sanitize_html(raw_html))

    def set_clean_description(self, clean_html: str) -> None:
        """Show what sanitize_html returned (run it off the GUI thread for long descriptions)."""
        self.shown_html = clean_html or "<i>No description.</i>"  # exactly what Qt was given
        self.setHtml(self.shown_html)

    def _open_link(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
