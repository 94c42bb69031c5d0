"""Text cut to a width with "…" at the end, as QFontMetrics.elidedText(text, Qt.ElideRight, width)
cuts it, for what is drawn in the first frame (the History list's lines, the model pickers).

Naming `Qt.ElideRight` would build all 93 enums of PySide6's `Qt` namespace at its first use
(about 0.1 s, a sixth of the start), in the middle of painting the first frame."""
from __future__ import annotations

ELLIPSIS = "…"


def elide_right(fm, text: str, width: int) -> str:
    """The longest start of `text` that fits `width` pixels in the font metrics `fm` with "…" after
    it; `text` whole if it fits, "" if not even "…" does."""
    if fm.horizontalAdvance(text) <= width:
        return text
    fits, too_long = 0, len(text)  # fits: a length that fits with the "…"; too_long: one that does not
    if fm.horizontalAdvance(ELLIPSIS) > width:
        return ""
    while too_long - fits > 1:
        mid = (fits + too_long) // 2
        if fm.horizontalAdvance(text[:mid] + ELLIPSIS) <= width:
            fits = mid
        else:
            too_long = mid
    return text[:fits] + ELLIPSIS
