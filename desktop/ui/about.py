"""Help → About: the version, where ArenaDesk keeps its files (with a button that
opens the data folder), what llama.cpp was built with, and which keychain holds
the API keys. "Copy details" puts the same facts on the clipboard for bug reports.
"""
from __future__ import annotations

import platform
import sys

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QMessageBox, QPushButton,
    QVBoxLayout,
)

from .. import __version__
from ..core.paths import APP_ID, APP_NAME
from ..core.engines.local import llama_build_info
from ..core.resources import resource


def keychain_info(secrets) -> str:
    try:
        name = secrets.keychain_name()
        available = secrets.keychain_available()
    except Exception as exc:
        return f"unknown ({exc})"
    if available:
        return name
    return f"none ({name}): API keys are kept for this session only, or read from OPENAI_API_KEY"


class AboutDialog(QDialog):
    def __init__(self, services, parent=None):
        super().__init__(parent)
        self.services = services
        self.setWindowTitle(f"About {APP_NAME}")
        self.setObjectName("aboutDialog")

        header = QHBoxLayout()
        icon = QLabel()
        icon_path = resource("icons", f"{APP_ID}.svg")
        if icon_path.exists():
            icon.setPixmap(QIcon(str(icon_path)).pixmap(72, 72))
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel(
            f"<h2 style='margin-bottom:2px'>{APP_NAME}</h2>"
            f"<div>Version {__version__}</div>"
            "<div>Compare the open models you run yourself with GPT, on your own prompts.</div>"
        )
        title.setObjectName("aboutTitle")
        title.setWordWrap(True)
        header.addWidget(title, 1)

        self.facts: dict[str, str] = {
            "Version": __version__,
            "Python": f"{platform.python_version()} ({'frozen build' if getattr(sys, 'frozen', False) else sys.executable})",
            "Qt": self._qt_versions(),
            "System": platform.platform(),
        }
        self.facts.update(llama_build_info())
        self.facts["Keychain"] = keychain_info(services.secrets)

        build = QGroupBox("This installation")
        build_form = QFormLayout(build)
        for key, value in self.facts.items():
            build_form.addRow(f"{key}:", self._value_label(value))

        self.folders = {
            "Data": services.folders.data,
            "Settings": services.folders.config,
            "Cache": services.folders.cache,
            "Models": services.folders.models,
            "Logs": services.folders.logs,
        }
        places = QGroupBox("Where ArenaDesk keeps its files")
        places_form = QFormLayout(places)
        for key, folder in self.folders.items():
            places_form.addRow(f"{key}:", self._value_label(str(folder)))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_data_button = QPushButton("Open data folder")
        self.open_data_button.setToolTip(str(services.folders.data))
        self.open_data_button.clicked.connect(self.open_data_folder)
        self.copy_button = QPushButton("Copy details")
        self.copy_button.setToolTip("Copy the version, build and folders, e.g. for a bug report")
        self.copy_button.clicked.connect(self.copy_details)
        buttons.addButton(self.open_data_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(build)
        layout.addWidget(places)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    @staticmethod
    def _qt_versions() -> str:
        import PySide6
        from PySide6.QtCore import qVersion

        return f"Qt {qVersion()}, PySide6 {PySide6.__version__}"

    @staticmethod
    def _value_label(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def details_text(self) -> str:
        lines = [f"{APP_NAME} {__version__}"]
        lines += [f"{k}: {v}" for k, v in self.facts.items() if k != "Version"]
        lines += [f"{k} folder: {v}" for k, v in self.folders.items()]
        return "\n".join(lines)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details_text())

    def open_data_folder(self) -> bool:
        folder = self.services.folders.data
        folder.mkdir(parents=True, exist_ok=True)
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            return True
        QMessageBox.information(
            self, APP_NAME, f"No file manager could be started. The data folder is:\n{folder}"
        )
        return False
