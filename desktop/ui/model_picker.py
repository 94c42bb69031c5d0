"""A pane's model picker: every contestant, names shortened when the pane is narrow (the
core's rule: family and size from the start, the quantisation from the end), the full name
in a tooltip, and a model that is gone shown as gone rather than replaced."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox

from ..core.names import shorten
from .elide import elide_right

GONE = " (gone)"


class ModelPicker(QComboBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        # Four panes must fit a 1280-pixel screen: the picker asks for little and elides.
        self.setMinimumContentsLength(4)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        # Qt.ElideRight by its name: the window is built without PySide6's Qt enums (see elide.py).
        self.view().setProperty("textElideMode", "ElideRight")
        self.currentIndexChanged.connect(self._update_tooltip)
        self._gone = ""

    def set_items(self, items: list[tuple[str, str]], current: str | None, gone: str = "") -> None:
        """items: (label, choice) with ("-", "-") for a separator. `current` is selected; if it is
        not offered it is added and marked gone, and `gone` says why (the tooltip shows it)."""
        self.blockSignals(True)
        self.clear()
        for label, choice in items:
            if choice == "-":
                self.insertSeparator(self.count())
            else:
                self.addItem(label, choice)
                self.model().item(self.count() - 1).setToolTip(label)
        i = self.findData(current) if current else -1
        if i < 0 and current:
            name = current.split(":", 1)[-1]
            self.addItem(name + GONE, current)
            i = self.count() - 1
            self.model().item(i).setToolTip(gone or f"{name} is not offered any more")
        self._gone = gone if current and (gone or self.itemText(i).endswith(GONE)) else ""
        self.setCurrentIndex(max(i, 0))
        self.blockSignals(False)
        self._update_tooltip()

    def choice(self) -> str | None:
        return self.currentData()

    def _update_tooltip(self, *_args) -> None:
        full = self.currentText()
        self.setToolTip(f"{full}\n{self._gone}" if self._gone else f"{full}\nWhich model answers in this pane")

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """As QComboBox paints itself, with the current name shortened to fit."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        shown = self._fit(opt)
        if shown == opt.currentText:  # it fits: QComboBox paints it, and no Python painter is made (PySide6
            return super().paintEvent(event)  # makes QPainter's type and enums at the first one)
        from PySide6.QtWidgets import QStylePainter

        painter = QStylePainter(self)
        painter.drawComplexControl(QStyle.CC_ComboBox, opt)
        opt.currentText = shown
        painter.drawControl(QStyle.CE_ComboBoxLabel, opt)

    def shown_text(self) -> str:
        """What the closed picker shows at its present width (tests read it as the user would)."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        return self._fit(opt)

    def _fit(self, opt: QStyleOptionComboBox) -> str:
        """The label if it fits; else the model's name alone (" · local/API" goes to the tooltip),
        shortened at word boundaries ("SmolLM2-135M…Q4_1", "Gemma 3 270M…"); in the narrowest
        places cut from the right, so what stays is the family."""
        width = max(self.style().subControlRect(QStyle.CC_ComboBox, opt, QStyle.SC_ComboBoxEditField, self).width(), 10)
        fm, text = self.fontMetrics(), self.currentText()
        if fm.horizontalAdvance(text) <= width:
            return text
        name = text.rsplit(" · ", 1)[0]
        return shorten(name, lambda t: fm.horizontalAdvance(t) <= width) or elide_right(fm, name, width)
