"""Settings → Connections: the list of OpenAI-compatible endpoints, one form to edit the
selected one, its key (in the keychain, never shown), and "Test connection".

The tab edits copies; `apply()` writes them into the settings when the dialog is
saved, and `discard()` forgets keys stored for connections that were added and
then cancelled. Checks run on a worker thread and come back through an inbox.
"""
from __future__ import annotations

import copy

from PySide6.QtWidgets import (
    QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMenu, QMessageBox, QPlainTextEdit,
    QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from ..core import connections as cx
from ..core.secrets import connection_key_name
from ..core.services import Services
from ..core.settings import RANGES
from .inbox import Inbox


class ConnectionsTab(QWidget):
    def __init__(self, services: Services, key_row_factory, parent=None):
        super().__init__(parent)
        self.services = services
        self._key_row_factory = key_row_factory  # (name, env, placeholder, optional) -> a KeyRow
        self.connections = [copy.deepcopy(c) for c in services.settings.connections]
        self._added: set[str] = set()  # ids added in this dialog (their keys go if it is cancelled)
        self._removed: list = []
        self._current = None
        self._inbox = Inbox(self)
        self.key_row = None

        self.list = QListWidget(self)
        self.list.setObjectName("connectionList")
        self.list.currentRowChanged.connect(self._select)
        add = QPushButton("Add…", self)
        menu = QMenu(add)
        for p in cx.PRESETS:
            menu.addAction(p.name + (f"  ({p.base_url})" if p.base_url else ""),
                           lambda preset_id=p.id: self.add(preset_id))
        add.setMenu(menu)
        self.add_button = add
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self.remove_current)
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_button)
        left.addLayout(buttons)

        self.form_box = QWidget(self)
        form = QFormLayout(self.form_box)
        self.name = QLineEdit()
        self.name.editingFinished.connect(self._rename)
        form.addRow("Name", self.name)
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.help.setObjectName("connectionKeyHelp")
        form.addRow("Key", self.help)
        self.key_box = QVBoxLayout()
        form.addRow("", self.key_box)
        self.base_url = QLineEdit()
        self.base_url.setPlaceholderText("https://…/v1")
        form.addRow("Base URL", self.base_url)
        self.headers = QPlainTextEdit()
        self.headers.setPlaceholderText("Extra headers, one 'Name: value' a line (optional; saved in the settings "
                                        "file, so not for keys)")
        self.headers.setFixedHeight(54)
        form.addRow("Headers", self.headers)
        self.timeout = QDoubleSpinBox(decimals=0, suffix=" s")
        self.timeout.setRange(*RANGES[("Connection", "timeout_s")])  # the settings file's own range
        self.timeout.setToolTip("How long to wait for the next part of an answer before giving up")
        form.addRow("Timeout", self.timeout)
        self.max_concurrent = QSpinBox()
        self.max_concurrent.setRange(*RANGES[("Connection", "max_concurrent")])
        self.max_concurrent.setSpecialValueText("no limit")
        self.max_concurrent.setToolTip("Answers streamed at once over this connection; more wait their turn")
        form.addRow("At once", self.max_concurrent)
        self.models = QLabel()
        self.models.setWordWrap(True)
        form.addRow("Models", self.models)
        test_row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.setAutoDefault(False)
        self.test_button.clicked.connect(self.test_current)
        test_row.addWidget(self.test_button)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setObjectName("connectionVerdict")
        test_row.addWidget(self.verdict, 1)
        form.addRow(test_row)

        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addWidget(self.form_box, 3)
        self._fill_list()

    # -- the list -----------------------------------------------------------------------------
    def _fill_list(self, select: int = 0) -> None:
        # The form goes into its connection while the list's current row is still that one's
        # (_select would otherwise write the old name onto the newly selected row).
        self._commit()
        self._current = None
        self.list.blockSignals(True)
        self.list.clear()
        for c in self.connections:
            self.list.addItem(c.name)
        self.list.blockSignals(False)
        self.form_box.setEnabled(bool(self.connections))
        self.remove_button.setEnabled(bool(self.connections))
        if self.connections:
            # Quietly: the signal would run _select too, and the form must be built once (a second
            # build left a key row behind, in front of the form, taking its clicks).
            self.list.blockSignals(True)
            self.list.setCurrentRow(min(select, len(self.connections) - 1))
            self.list.blockSignals(False)
            self._select(self.list.currentRow())
        else:
            self._current = None

    def add(self, preset_id: str):
        self._commit()
        settings = copy.copy(self.services.settings)
        settings.connections = self.connections
        conn = cx.new_connection(settings, preset_id)
        self.connections.append(conn)
        self._added.add(conn.id)
        self._fill_list(len(self.connections) - 1)
        return conn

    def remove_current(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            return
        conn = self.connections.pop(row)
        self._current = None
        if conn.id not in self._added:
            self._removed.append(conn)
        else:
            self.services.secrets.delete(connection_key_name(conn.id))
        self._fill_list(row)

    def _select(self, row: int) -> None:
        self._commit()
        if not 0 <= row < len(self.connections):
            return
        conn = self._current = self.connections[row]
        p = cx.preset(conn.preset)
        self.name.setText(conn.name)
        self.help.setText(p.key_help)
        self.base_url.setText(conn.base_url)
        self.headers.setPlainText(cx.format_headers(conn.headers))
        self.timeout.setValue(conn.timeout_s)
        self.max_concurrent.setValue(conn.max_concurrent)
        self._show_models(conn)
        self.verdict.setText("")
        if self.key_row is not None:
            # Gone now, not when the event loop next deletes: inside the dialog's exec() that is
            # only after it closes, and until then a removed row still shows over the form.
            self.key_box.removeWidget(self.key_row)
            self.key_row.hide()
            self.key_row.setParent(None)
            self.key_row.deleteLater()
        placeholder = "no key needed (optional)" if not conn.needs_key else "paste a new key"
        self.key_row = self._key_row_factory(connection_key_name(conn.id), conn.key_env, placeholder,
                                             not conn.needs_key)
        self.key_box.addWidget(self.key_row)

    def _show_models(self, conn) -> None:
        if conn.models:
            more = f" … (+{len(conn.models) - 6})" if len(conn.models) > 6 else ""
            self.models.setText(f"{len(conn.models)}: " + ", ".join(conn.models[:6]) + more)
        else:
            self.models.setText("Not fetched yet: Test connection fetches the list.")

    def _rename(self) -> None:
        if self._current is None:
            return
        name = self.name.text().strip() or self._current.name
        self._current.name = name
        item = self.list.currentItem()
        if item is not None:
            item.setText(name)

    # -- editing ------------------------------------------------------------------------------
    def _commit(self) -> str | None:
        """Write the form into the selected connection; the problem, if a field is unusable."""
        conn = self._current
        if conn is None:
            return None
        self._rename()
        conn.base_url = self.base_url.text().strip()
        conn.timeout_s = self.timeout.value()
        conn.max_concurrent = self.max_concurrent.value()
        try:
            conn.headers = cx.parse_headers(self.headers.toPlainText())
        except ValueError as exc:
            return f"{conn.name}: {exc}"
        problem = cx.check_base_url(conn.base_url)
        return f"{conn.name}: {problem}" if problem else None

    def test_current(self) -> None:
        problem = self._commit()
        conn = self._current
        if conn is None:
            return
        if problem:
            self.verdict.setText(problem)
            return
        if self.key_row is not None and not self.key_row._save():  # a typed key is what is meant to be tested
            return
        self.verdict.setText("Testing…")
        self.test_button.setEnabled(False)
        probe = copy.deepcopy(conn)
        self._inbox.run("test-connection", lambda: cx.check_connection(self.services, probe),
                        lambda verdict, error: self._tested(conn, verdict, error))

    def _tested(self, conn, verdict, error) -> None:
        self.test_button.setEnabled(True)
        if error is not None:
            self.verdict.setText(f"The test failed: {type(error).__name__}: {error}")
            return
        if verdict.ok:
            conn.models = list(verdict.models)
        if conn is self._current:
            self.verdict.setText(verdict.summary())
            self._show_models(conn)

    # -- the dialog's outcome -----------------------------------------------------------------
    def validate(self) -> str | None:
        problem = self._commit()
        if problem:
            return problem
        for c in self.connections:
            bad = cx.check_base_url(c.base_url)
            if bad:
                return f"{c.name}: {bad}"
        return None

    def save_key(self) -> bool:
        return self.key_row is None or self.key_row._save()

    def apply(self) -> None:
        self.services.settings.connections = self.connections
        for conn in self._removed:
            self.services.secrets.delete(connection_key_name(conn.id))

    def discard(self) -> None:
        for conn_id in self._added:
            self.services.secrets.delete(connection_key_name(conn_id))

    def warn(self, text: str) -> None:
        QMessageBox.warning(self, "Connections", text)
