"""The History sidebar: search, the comparisons newest activity first, open / rename / delete.

Each item is drawn as two lines, the title (elided) and its facts (to rate · blind ·
rounds · when: what is pending first, so a narrow sidebar cuts the date, not that), by a delegate with a fixed height, so the date line is never cut off
or wrapped away, wherever the list is scrolled."""
from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QEvent, QSize, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QApplication, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMenu, QStyle, QStyledItemDelegate,
    QStyleOptionViewItem, QVBoxLayout, QWidget,
)

from .elide import elide_right

# Qt's values written out (Qt.UserRole, Qt.AlignLeft | Qt.AlignTop): the window and its first frame
# are built without PySide6's `Qt` namespace, whose first use builds all its enums (see elide.py).
ID_ROLE = 0x0100  # Qt.UserRole: the conversation's id
FACTS_ROLE = ID_ROLE + 1
TOP_LEFT = 0x0001 | 0x0020
PAD = 6


def title_font(font):
    """The bolder font an item's title is drawn in; the title is cut to its width in that font (cut to
    the plain font's width, a long title ran past the item and was clipped, with no "…")."""
    from PySide6.QtGui import QFont  # made (with its enums) for the first item drawn, not for an empty list

    bold = QFont(font)
    bold.setWeight(QFont.Weight.DemiBold)
    return bold


class TwoLineDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt override)
        return QSize(option.rect.width(), 2 * option.fontMetrics.lineSpacing() + 2 * PAD + 2)

    def paint(self, painter, option, index) -> None:
        from PySide6.QtGui import QFont, QFontMetrics  # made for the first item drawn, not for an empty list

        option = QStyleOptionViewItem(option)
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        text, option.text = option.text, ""
        if style is not None:
            style.drawControl(QStyle.CE_ItemViewItem, option, painter, option.widget)  # background, selection
        selected = bool(option.state & QStyle.State_Selected)
        pal = option.palette
        r = option.rect.adjusted(PAD, PAD, -PAD, -PAD)
        fm = option.fontMetrics
        painter.save()
        font = title_font(option.font)
        painter.setFont(font)
        title = elide_right(QFontMetrics(font), text, r.width())
        # The style draws each line in its palette role's colour: painter.setPen(colour) would
        # build PySide6's Qt enums (see ID_ROLE) to rule out its setPen(Qt.PenStyle).
        style = style or QApplication.style()
        style.drawItemText(painter, r.adjusted(0, 0, 0, -fm.lineSpacing()), TOP_LEFT, pal, True, title,
                           QPalette.HighlightedText if selected else QPalette.Text)
        font.setWeight(QFont.Weight.Normal)
        painter.setFont(font)
        facts = elide_right(fm, index.data(FACTS_ROLE) or "", r.width())
        style.drawItemText(painter, r.adjusted(0, fm.lineSpacing(), 0, 0), TOP_LEFT, pal, True, facts,
                           QPalette.HighlightedText if selected else QPalette.PlaceholderText)
        painter.restore()


class HistorySidebar(QWidget):
    openRequested = Signal(int)
    renameRequested = Signal(int)
    deleteRequested = Signal(int)
    searchChanged = Signal(str)  # after typing pauses

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setMinimumWidth(150)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search history")
        self._timer = QTimer(self, singleShot=True, interval=200)
        self._timer.timeout.connect(lambda: self.searchChanged.emit(self.query()))
        self.search.textChanged.connect(lambda _t: self._timer.start())
        self.list = QListWidget(self)
        self.list.setObjectName("history")
        self.list.setItemDelegate(TwoLineDelegate(self.list))
        self.list.setProperty("horizontalScrollBarPolicy", "ScrollBarAlwaysOff")  # Qt's values by name (see ID_ROLE)
        self.list.setUniformItemSizes(True)
        self.list.itemActivated.connect(self._open)
        self.list.itemClicked.connect(self._open)
        self.list.setProperty("contextMenuPolicy", "CustomContextMenu")
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.installEventFilter(self)
        title = QLabel("History", self)
        title.setObjectName("sideTitle")
        self.empty = QLabel(self)
        self.empty.setObjectName("historyEmpty")
        self.empty.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 4, 8)
        lay.addWidget(title)
        lay.addWidget(self.search)
        lay.addWidget(self.empty)
        lay.addWidget(self.list, 1)

    def query(self) -> str:
        return self.search.text().strip()

    def show_conversations(self, conversations, current_id: int | None) -> None:
        self.list.clear()
        today = dt.date.today()
        for conv in conversations:
            created = dt.datetime.fromtimestamp(conv.created_at)
            when = created.strftime("%H:%M" if created.date() == today else "%b %d, %H:%M")
            facts = []
            if conv.n_unrated:
                facts.append(f"{conv.n_unrated} to rate")
            if conv.blind:
                facts.append("blind")
            facts += [f"{conv.n_rounds} round{'s' if conv.n_rounds != 1 else ''}", when]
            item = QListWidgetItem(conv.title or "(untitled)")
            item.setData(ID_ROLE, conv.id)
            item.setData(FACTS_ROLE, " · ".join(facts))
            item.setToolTip(f"{conv.title}\n{' · '.join(facts)}")
            self.list.addItem(item)
            if conv.id == current_id:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self.empty.setText("Nothing matches." if self.query() else
                           "Your comparisons appear here: every prompt, answer and vote is kept.")
        self.empty.setVisible(self.list.count() == 0)

    def item_texts(self) -> list[str]:
        """Each item as the user reads it: title, then its facts line."""
        return [f"{self.list.item(i).text()}\n{self.list.item(i).data(FACTS_ROLE)}" for i in range(self.list.count())]

    def shown_titles(self) -> list[str]:
        """Each item's title as drawn at the list's present width (elided as the user sees it)."""
        from PySide6.QtGui import QFontMetrics

        return self._as_drawn(QFontMetrics(title_font(self.list.font())), lambda item: item.text())

    def shown_facts(self) -> list[str]:
        """Each item's facts line as drawn at the list's present width (elided as the user sees it)."""
        return self._as_drawn(self.list.fontMetrics(), lambda item: item.data(FACTS_ROLE) or "")

    def _as_drawn(self, fm, text_of) -> list[str]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            width = self.list.visualItemRect(item).adjusted(PAD, PAD, -PAD, -PAD).width()
            out.append(elide_right(fm, text_of(item), width))
        return out

    def selected_id(self) -> int | None:
        item = self.list.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    def _open(self, item: QListWidgetItem) -> None:
        self.openRequested.emit(item.data(ID_ROLE))

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        cid = item.data(ID_ROLE)
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.openRequested.emit(cid))
        menu.addAction("Rename…\tF2", lambda: self.renameRequested.emit(cid))
        menu.addAction("Delete…\tDel", lambda: self.deleteRequested.emit(cid))
        menu.exec(self.list.mapToGlobal(pos))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if obj is self.list and event.type() == QEvent.KeyPress:
            from PySide6.QtCore import Qt  # not on the way to the first frame (see ID_ROLE)

            cid = self.selected_id() if event.key() in (Qt.Key_Delete, Qt.Key_Backspace) else None
            if cid is not None:
                self.deleteRequested.emit(cid)
                return True
        return super().eventFilter(obj, event)
