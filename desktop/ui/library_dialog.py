"""The model library: the curated catalog, a search of the Hugging Face hub,
the installed models, importing a local .gguf, and the downloads in progress.

Layout and wiring only. The network, header reads, hashing and hardware
probes run on the Inbox's threads; downloads run on the core's DownloadManager threads.
Both hand their results to the GUI thread through an Inbox (ui/inbox.py): no
widget is touched, and no Qt signal emitted, from a worker.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFrame, QGroupBox,
    QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMenu, QMessageBox, QProgressBar, QPushButton, QScrollArea, QSplitter,
    QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from ..core import secrets as secret_names
from ..core.library import discover
from ..core.library import installed as lib
from ..core.library.catalog import CatalogModel, load_catalog
from ..core.library.downloads import DownloadManager, DownloadProgress, DownloadRequest, DownloadState
from ..core.library.hardware import Fit, FitVerdict, MemoryInfo, detect, fit_verdict, fmt_bytes, recommend
from ..core.library.hub import Hub, HubFile, HubRepo
from ..core.library.speed import SpeedEstimate, SpeedProfile, current_profile, predict
from .confirm import confirm
from .inbox import Inbox

FOUND_KIND = {"projector": "vision projector", "adapter": "LoRA adapter", "partial": "partial download",
              "incomplete split": "parts missing", "unreadable": "not a model"}
FIT_MARK = {Fit.GPU: "✔ GPU", Fit.RAM: "✔ RAM (CPU)", Fit.TOO_LARGE: "✖ too large"}
FIT_HEADER = "Will it run here? (★ recommended)"
FIT_HEADER_TIP = ("Whether the file fits this machine's memory (GPU, or RAM and the CPU) and how fast it should "
                  "answer; ★ marks the one file recommended here: on a GPU the best quality it holds, on the CPU "
                  "Q4_K_M or the nearest smaller quant, and one fast enough to use where any is.")


def verdict_text(v: FitVerdict, speed: SpeedEstimate | None, measuring: bool = False) -> str:
    """The "Will it run here?" cell: memory verdict, then the predicted speed ("✔ RAM (CPU) · ~2 tok/s — slow")."""
    if speed is not None:
        return f"{FIT_MARK[v.fit]} · {speed.label}"
    if measuring and v.fit != Fit.TOO_LARGE:
        return f"{FIT_MARK[v.fit]} · measuring speed…"
    return FIT_MARK[v.fit]


def verdict_tip(v: FitVerdict, speed: SpeedEstimate | None) -> str:
    return v.explain() + (f"\n{speed.explain()}" if speed is not None else "")
ROLE = Qt.UserRole


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s} s left"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s left"
    return f"{s // 3600} h {s % 3600 // 60:02d} min left"


class DownloadRow(QFrame):
    """One download: name, progress bar, bytes · speed · ETA, and pause / resume / cancel."""

    def __init__(self, key: str, title: str, parent=None):
        super().__init__(parent)
        self.key = key
        self.setFrameShape(QFrame.StyledPanel)
        self.title = QLabel(f"<b>{title}</b>", self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)  # per mille: sizes above 2 GB do not fit Qt's int range
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.info = QLabel(self)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.pause = QPushButton("Pause", self)
        self.resume = QPushButton("Resume", self)
        self.cancel = QPushButton("Cancel", self)
        self.dismiss = QPushButton("Clear", self)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        for b in (self.pause, self.resume, self.cancel, self.dismiss):
            top.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addLayout(top)
        lay.addWidget(self.bar)
        lay.addWidget(self.info)
        self.state: DownloadState | None = None
        self.show_state(DownloadState.QUEUED)

    def show_state(self, state: DownloadState) -> None:
        self.state = state
        running = state in (DownloadState.QUEUED, DownloadState.RESOLVING, DownloadState.DOWNLOADING,
                            DownloadState.RETRYING, DownloadState.VERIFYING)
        self.pause.setVisible(running and state != DownloadState.VERIFYING)
        self.resume.setVisible(state in (DownloadState.PAUSED, DownloadState.FAILED))
        self.cancel.setVisible(running or state in (DownloadState.PAUSED, DownloadState.FAILED))
        self.dismiss.setVisible(state in (DownloadState.DONE, DownloadState.CANCELLED))

    def update_from(self, p: DownloadProgress) -> None:
        self.show_state(p.state)
        if p.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(p.received, p.total) / p.total))
        elif p.state == DownloadState.DOWNLOADING:
            self.bar.setRange(0, 0)  # busy: size not known yet
        amount = f"{fmt_bytes(p.received)} of {fmt_bytes(p.total)}" if p.total else fmt_bytes(p.received)
        if p.state == DownloadState.DOWNLOADING:
            text = f"{amount} · {fmt_bytes(p.speed)}/s · {fmt_eta(p.eta)}".rstrip(" ·")
            if p.message:
                text += f" · {p.message}"
        elif p.state == DownloadState.DONE:
            self.bar.setValue(1000)
            text = p.message
        else:
            text = f"{p.message} ({amount})" if p.received and p.state != DownloadState.FAILED else p.message
        self.info.setText(text)
        self.info.setStyleSheet("color: #b00020;" if p.state == DownloadState.FAILED else "")


class LibraryDialog(QDialog):
    """Find, download, import and manage local models. `modelsChanged` fires when the installed set changes.

    Downloads go on while the dialog is closed: the main window keeps it, and with it the manager."""

    modelsChanged = Signal()
    progressShown = Signal(object)  # a DownloadProgress, after its row was updated

    def __init__(self, services, parent=None, *, manager: DownloadManager | None = None):
        super().__init__(parent)
        self.services = services
        self.setWindowTitle("Models — ArenaDesk")
        # No taller than the screen: at 1280×720 a 760-pixel dialog put its Close button off the bottom.
        room = self.screen().availableGeometry()
        self.resize(min(1060, room.width() - 40), min(760, room.height() - 40))
        self._seq = itertools.count()
        self._search_seq = 0
        self._files_seq = 0
        self.memory: MemoryInfo | None = None
        self.speed: SpeedProfile | None = None  # this machine's measured decode speed (core/library/speed.py)
        self._speed_note = ""
        self._measured_for = None  # the settings the verdicts were made for (see showEvent)
        self.catalog: list[CatalogModel] = []
        self.current_repo: HubRepo | None = None
        self.hub = Hub(lambda: services.secrets.get(secret_names.HUGGINGFACE).value)
        self.confirm = confirm  # (parent, title, text, action) -> bool
        self.rows: dict[str, DownloadRow] = {}
        # The manager's threads post their events here; the GUI thread runs them (see ui/inbox.py).
        self._inbox = Inbox(self)
        on_event = lambda event: self._inbox.post(self._on_progress, event)  # noqa: E731
        self.manager = manager or DownloadManager.for_services(services, on_event=on_event)
        if manager is not None:
            manager.on_event = on_event

        self._build()
        self._load_catalog()
        self.refresh_installed()
        self._detect_hardware()
        for p in self.manager.pending():  # downloads left by an earlier run
            self._row_for(p.key, p.request).update_from(p)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.hardware = QLabel("Measuring this machine's memory…", self)
        self.hardware.setWordWrap(True)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_catalog(), "Catalog")
        self.tabs.addTab(self._build_search(), "Search the hub")
        self.tabs.addTab(self._build_installed(), "Installed")

        self.downloads_box = QGroupBox("Downloads", self)
        self.downloads_layout = QVBoxLayout()
        self.downloads_layout.setContentsMargins(2, 2, 2, 2)
        self.no_downloads = QLabel("No downloads. Pick a file in the catalog or a hub search and press Download.")
        self.downloads_layout.addWidget(self.no_downloads)
        self.downloads_layout.addStretch(1)
        inner = QWidget()
        inner.setLayout(self.downloads_layout)
        scroll = QScrollArea(self.downloads_box)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(130)  # one download row, whole
        scroll.setWidget(inner)
        box_lay = QVBoxLayout(self.downloads_box)
        box_lay.addWidget(scroll)

        split = QSplitter(Qt.Vertical, self)
        split.addWidget(self.tabs)
        split.addWidget(self.downloads_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 190])

        self.token_button = QPushButton("Hugging Face token…", self)
        self.token_button.setToolTip("Gated models (Llama, Gemma) need a token after you accept their licence")
        self.token_button.clicked.connect(self.edit_token)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.token_button)
        bottom.addStretch(1)
        bottom.addWidget(buttons)

        lay = QVBoxLayout(self)
        lay.addWidget(self.hardware)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)

    def _tree(self, headers: list[str], *, flat: bool = True) -> QTreeWidget:
        t = QTreeWidget(self)
        t.setHeaderLabels(headers)
        t.setRootIsDecorated(not flat)
        t.setSelectionMode(QAbstractItemView.SingleSelection)
        t.setUniformRowHeights(True)
        t.header().setSectionResizeMode(0, QHeaderView.Stretch)
        for i in range(1, len(headers)):
            t.header().setSectionResizeMode(i, QHeaderView.ResizeToContents)
        t.header().setStretchLastSection(False)
        return t

    def _build_catalog(self) -> QWidget:
        w = QWidget(self)
        self.catalog_tree = self._tree(["Model / file", "Quant", "Size", FIT_HEADER, "Licence", "Context"],
                                       flat=False)
        self.catalog_tree.headerItem().setToolTip(3, FIT_HEADER_TIP)
        self.catalog_tree.currentItemChanged.connect(self._catalog_selected)
        self.catalog_tree.itemDoubleClicked.connect(lambda *_: self.download_catalog_selection())
        self.catalog_details = QLabel(w)
        self.catalog_details.setWordWrap(True)
        self.catalog_details.setOpenExternalLinks(True)
        self.catalog_download = QPushButton("Download", w)
        self.catalog_download.setEnabled(False)
        self.catalog_download.clicked.connect(self.download_catalog_selection)
        row = QHBoxLayout()
        row.addWidget(self.catalog_details, 1)
        row.addWidget(self.catalog_download, 0, Qt.AlignTop)
        lay = QVBoxLayout(w)
        lay.addWidget(self.catalog_tree, 1)
        lay.addLayout(row)
        return w

    def _build_search(self) -> QWidget:
        w = QWidget(self)
        self.search_edit = QLineEdit(w)
        self.search_edit.setPlaceholderText("Search GGUF models on Hugging Face, e.g. qwen3, llama 3.2, gemma")
        self.search_edit.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search", w)
        self.search_button.clicked.connect(self.search)
        self.search_status = QLabel(w)
        self.search_status.setWordWrap(True)
        self.search_status.setOpenExternalLinks(True)
        self.results = self._tree(["Repository", "Downloads", "Likes", "Access"])
        self.results.currentItemChanged.connect(self._result_selected)
        self.files = self._tree(["File", "Quant", "Size", FIT_HEADER])
        self.files.headerItem().setToolTip(3, FIT_HEADER_TIP)
        self.files.currentItemChanged.connect(self._file_selected)
        self.files.itemDoubleClicked.connect(lambda *_: self.download_hub_selection())
        self.download_button = QPushButton("Download", w)
        self.download_button.setEnabled(False)
        self.download_button.clicked.connect(self.download_hub_selection)
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        top.addWidget(self.search_button)
        split = QSplitter(Qt.Horizontal, w)
        split.addWidget(self.results)
        split.addWidget(self.files)
        split.setSizes([420, 560])
        bottom = QHBoxLayout()
        bottom.addWidget(self.search_status, 1)
        bottom.addWidget(self.download_button, 0, Qt.AlignTop)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        return w

    def _build_installed(self) -> QWidget:
        w = QWidget(self)
        self.installed_tree = self._tree(["Model", "Quant", "Architecture", "Size", "Source", "Default"])
        self.installed_tree.currentItemChanged.connect(self._installed_selected)
        self.installed_details = QLabel(w)
        self.installed_details.setWordWrap(True)
        self.installed_details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.disk_label = QLabel(w)
        self.import_button = QPushButton("Import .gguf…", w)
        self.import_button.clicked.connect(self.choose_import)
        self.copy_on_import = QCheckBox("Copy imported files into the models folder", w)
        self.copy_on_import.setToolTip("Off: the file is used where it is (no second copy of a multi-GB file)")
        self.default_button = QPushButton("Set as default", w)
        self.default_button.clicked.connect(self.set_selected_default)
        self.open_button = QPushButton("Open folder", w)
        self.open_button.clicked.connect(self.open_selected_folder)
        self.delete_button = QPushButton("Delete…", w)
        self.delete_button.clicked.connect(self.delete_selected)
        for b in (self.default_button, self.delete_button):
            b.setEnabled(False)
        # Models other apps keep (LM Studio, Ollama…), used where they are: core/library/discover.py.
        self.use_found = QCheckBox("Use models found in other apps' folders", w)
        self.use_found.setToolTip("LM Studio, Ollama, GPT4All, Jan, the Hugging Face cache, llama.cpp's cache and "
                                  "your folders. They are read where they are, never copied, moved or changed.")
        self.use_found.setChecked(self.services.settings.use_found_models == "yes")
        self.use_found.toggled.connect(self.set_use_found)
        self.add_folder_button = QPushButton("Add folder…", w)
        self.add_folder_button.setToolTip("Look for .gguf files in one more folder and use them where they are "
                                          "(this turns on “Use models found in other apps' folders”)")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.remove_folder_button = QPushButton("Remove folder", w)
        self.remove_folder_button.setToolTip("Stop looking in a folder you added (its files stay as they are)")
        self.remove_folder_button.setMenu(QMenu(self.remove_folder_button))
        self._fill_folder_menu()
        self.rescan_button = QPushButton("Scan again", w)
        self.rescan_button.clicked.connect(lambda: self.rescan())
        self.found_status = QLabel(w)
        self._folder_note = ""  # said after the status from Add folder… until the next scan
        self.found_status.setWordWrap(True)
        found_row = QHBoxLayout()
        found_row.addWidget(self.use_found)
        found_row.addWidget(self.found_status, 1)
        found_row.addWidget(self.add_folder_button)
        found_row.addWidget(self.remove_folder_button)
        found_row.addWidget(self.rescan_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.copy_on_import)
        buttons.addStretch(1)
        for b in (self.default_button, self.open_button, self.delete_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(w)
        lay.addWidget(self.installed_tree, 1)
        lay.addWidget(self.installed_details)
        lay.addWidget(self.disk_label)
        lay.addLayout(found_row)
        lay.addLayout(buttons)
        self._found_listener = lambda p: self._inbox.post(self._on_identify_progress, p)  # a worker calls it
        self.services.discovery.subscribe(self._found_listener)
        if self.services.discovery.last_scan is None:
            self.rescan()
        else:
            self._show_scan(self.services.discovery.last_scan)
        return w

    # -- workers --------------------------------------------------------------------------------
    def _run(self, fn, done=None, failed=None) -> None:
        """Run fn() off the GUI thread; done(result) or failed(exception) then runs on the GUI thread."""

        def finished(result, error):
            if error is not None:
                if failed is not None:
                    failed(error)
            elif done is not None:
                done(result)

        self._inbox.run("library", fn, finished)

    def _show_error(self, title: str, exc) -> None:
        QMessageBox.warning(self, title, str(exc))

    # -- hardware ---------------------------------------------------------------------------------
    def _runtime_key(self) -> tuple:
        rt = self.services.settings.runtime
        return (rt.context_length, rt.threads, rt.gpu_layers)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # The dialog lives on between showings: settings changed meanwhile change the verdicts.
        if self._measured_for is not None and self._measured_for != self._runtime_key():
            self._detect_hardware()

    def _detect_hardware(self) -> None:
        self._measured_for = self._runtime_key()
        self.speed = None
        self._speed_note = "Measuring this machine's speed with the built-in model…"

        def done(mem: MemoryInfo):
            self.memory = mem
            self._show_hardware()
            self._refresh_verdicts()
            # A thread of its own, as every job here: the measurement takes seconds (more on a busy
            # machine) and holds up no search or listing.
            self._run(lambda: current_profile(self.services, mem), speed_done, speed_failed)

        def speed_done(profile: SpeedProfile):
            self.speed = profile
            self._speed_note = f"Speeds are predicted from the {profile.summary()}."
            self._show_hardware()
            self._refresh_verdicts()

        def speed_failed(exc):
            self.speed = None
            self._speed_note = f"Speed could not be measured ({exc}), so only memory is judged."
            self._show_hardware()
            self._refresh_verdicts()

        self._run(detect, done, lambda exc: self.hardware.setText(f"Memory could not be measured: {exc}"))

    def _show_hardware(self) -> None:
        mem = self.memory
        ctx = self.services.settings.runtime.context_length
        notes = " ".join(mem.notes)
        self.hardware.setText(f"This machine: {mem.summary()}. Verdicts assume a {ctx:,}-token context "
                              f"(Settings → Local models). {self._speed_note} {notes}".strip())

    def _refresh_verdicts(self) -> None:
        self._fill_catalog()
        if self.current_repo is not None:
            self._refresh_file_verdicts()

    @property
    def _measuring(self) -> bool:
        return self.speed is None and self._speed_note.startswith("Measuring")

    def _verdict(self, size: int | None, *, kv: int | None, parameters: int | None, quant: str | None,
                 max_ctx: int | None = None) -> FitVerdict | None:
        if self.memory is None or not size:
            return None
        ctx = self.services.settings.runtime.context_length
        if max_ctx:
            ctx = min(ctx, max_ctx)
        return fit_verdict(self.memory, size, context_length=ctx, kv_bytes_per_token=kv, parameters=parameters,
                           quant=quant)

    # -- catalog ----------------------------------------------------------------------------------
    def _load_catalog(self) -> None:
        try:
            self.catalog = load_catalog()
        except Exception as exc:  # noqa: BLE001 - a broken resource must not stop the dialog
            self.catalog_details.setText(f"The catalog could not be read: {exc}")
            self.catalog = []
        self._fill_catalog()

    def _fill_catalog(self) -> None:
        t = self.catalog_tree
        current = t.currentItem().data(0, ROLE) if t.currentItem() else None
        t.clear()
        ctx = self.services.settings.runtime.context_length
        gpu_layers = self.services.settings.runtime.gpu_layers
        for model in self.catalog:
            top = QTreeWidgetItem([model.name + ("  (gated)" if model.gated else ""), "", "", "", model.licence,
                                   f"{model.context_length:,}"])
            top.setData(0, ROLE, ("model", model.id))
            top.setToolTip(0, model.description)
            verdicts = model.verdicts(self.memory, ctx) if self.memory else [None] * len(model.files)
            speeds = (model.speeds(self.memory, ctx, self.speed, gpu_layers) if self.memory
                      else [None] * len(model.files))
            rec = model.recommended(self.memory, ctx, self.speed, gpu_layers) if self.memory else None
            sizes = []
            for i, (f, v, sp) in enumerate(zip(model.files, verdicts, speeds)):
                size, est = f.size_or_estimate(model.parameters)
                sizes.append(("≈ " if est else "") + fmt_bytes(size))
                mark = verdict_text(v, sp, self._measuring) if v else "…"
                if i == rec:
                    mark += "  ★ recommended"
                child = QTreeWidgetItem([f.filename, f.quant, sizes[-1], mark, "", ""])
                child.setData(0, ROLE, ("file", model.id, i))
                if v:
                    child.setToolTip(3, verdict_tip(v, sp))
                top.addChild(child)
            # The collapsed row speaks for the file it recommends (else its first file): quant, size, fit.
            shown = rec if rec is not None else 0
            if model.files:
                top.setText(1, model.files[shown].quant)
                top.setText(2, sizes[shown])
            if rec is not None:
                top.setText(3, f"{verdict_text(verdicts[rec], speeds[rec], self._measuring)}  ★")
                top.setToolTip(3, f"{model.files[rec].quant} is recommended here: "
                                  f"{verdict_tip(verdicts[rec], speeds[rec])}")
            elif self.memory:
                top.setText(3, FIT_MARK[Fit.TOO_LARGE])
            t.addTopLevelItem(top)
            if current and current[:2] == ("model", model.id):
                t.setCurrentItem(top)

    def _catalog_model(self, model_id: str) -> CatalogModel | None:
        return next((m for m in self.catalog if m.id == model_id), None)

    def _catalog_selected(self, item, _prev=None) -> None:
        if item is None:
            self.catalog_download.setEnabled(False)
            return
        data = item.data(0, ROLE)
        model = self._catalog_model(data[1])
        if model is None:
            return
        lines = [f"<b>{model.name}</b> — {model.publisher}. {model.description}",
                 f"Repository: <a href='{model.page_url}'>{model.repo_id}</a> · licence {model.licence} · "
                 f"context {model.context_length:,} tokens"]
        if model.gated:
            lines.append("Gated: open the model page, sign in, accept the licence, then add a Hugging Face "
                         "token (button below).")
        if data[0] == "file":
            f = model.files[data[2]]
            lines.append(f"File {f.filename}: " + ("SHA-256 pinned in the catalog." if f.sha256 else
                                                   "checked against the hub's published SHA-256 when downloaded."))
            tip = item.toolTip(3)
            if tip:
                lines.append(tip)
        self.catalog_details.setText("<br>".join(lines))
        rt = self.services.settings.runtime
        self.catalog_download.setEnabled(
            data[0] == "file" or (self.memory is not None
                                  and model.recommended(self.memory, rt.context_length, self.speed,
                                                        rt.gpu_layers) is not None))

    def download_catalog_selection(self) -> None:
        item = self.catalog_tree.currentItem()
        if item is None:
            return
        data = item.data(0, ROLE)
        model = self._catalog_model(data[1])
        if model is None:
            return
        if data[0] == "model":
            rt = self.services.settings.runtime
            index = model.recommended(self.memory, rt.context_length, self.speed, rt.gpu_layers) if self.memory else None
            if index is None:
                return
        else:
            index = data[2]
        f = model.files[index]
        self.start_download(DownloadRequest(model.repo_id, f.filename, model.revision, f.sha256, f.size,
                                            f"{model.name} · {f.quant}"))

    # -- hub search -------------------------------------------------------------------------------
    def search(self) -> None:
        query = self.search_edit.text().strip()
        self._search_seq = seq = next(self._seq)
        self.search_status.setText(f"Searching for “{query}”…" if query else "Listing popular GGUF repositories…")
        self.search_button.setEnabled(False)

        def done(results):
            if seq != self._search_seq:
                return  # a newer search is on its way
            self.search_button.setEnabled(True)
            self.results.clear()
            self.files.clear()
            self.current_repo = None
            self.download_button.setEnabled(False)
            for r in results:
                item = QTreeWidgetItem([r.repo_id, f"{r.downloads or 0:,}", f"{r.likes or 0:,}",
                                        "gated" if r.gated else "open"])
                item.setData(0, ROLE, r)
                self.results.addTopLevelItem(item)
            self.search_status.setText(f"{len(results)} repositories" + ("" if results else
                                       ": try fewer words, or the publisher's name (bartowski, unsloth, Qwen)."))

        def failed(exc):
            if seq != self._search_seq:
                return
            self.search_button.setEnabled(True)
            self.search_status.setText(str(exc))

        self._run(lambda: self.hub.search(query), done, failed)

    def _result_selected(self, item, _prev=None) -> None:
        self.files.clear()
        self.download_button.setEnabled(False)
        if item is None:
            return
        repo: HubRepo = item.data(0, ROLE)
        self._files_seq = seq = next(self._seq)
        self.search_status.setText(f"Listing the files of {repo.repo_id}…")

        def done(result):
            if seq != self._files_seq:
                return
            info, files = result
            info.parameters = info.parameters or repo.parameters
            self.current_repo = info
            self.files.clear()
            for f in files:
                item = QTreeWidgetItem([f.filename, f.quant or "?", fmt_bytes(f.size), ""])
                item.setData(0, ROLE, f)
                if f.kind != "model":
                    item.setDisabled(True)
                    item.setToolTip(0, "A vision projector, not a chat model" if f.kind == "mmproj" else
                                    "One part of a split model: split downloads are not supported yet")
                self.files.addTopLevelItem(item)
            self._refresh_file_verdicts()
            models = [f for f in files if f.kind == "model"]
            gated = " Gated: accept the licence on the model page and add a token." if info.gated else ""
            self.search_status.setText(
                f"{info.repo_id}: {len(models)} model file{'s' if len(models) != 1 else ''}.{gated}")

        def failed(exc):
            if seq == self._files_seq:
                self.search_status.setText(str(exc))

        self._run(lambda: self.hub.list_files(repo.repo_id), done, failed)

    def _refresh_file_verdicts(self) -> None:
        repo = self.current_repo
        parameters = repo.parameters if repo else None
        items, cands, speeds = [], [], []
        for i in range(self.files.topLevelItemCount()):
            item = self.files.topLevelItem(i)
            f: HubFile = item.data(0, ROLE)
            if f.kind != "model":
                continue
            v = self._verdict(f.size, kv=None, parameters=parameters, quant=f.quant,
                              max_ctx=repo.context_length if repo else None)
            sp = predict(self.speed, v, self.memory, gpu_layers=self.services.settings.runtime.gpu_layers,
                         parameters=parameters)
            item.setText(3, verdict_text(v, sp, self._measuring) if v else "…")
            if v:
                item.setToolTip(3, verdict_tip(v, sp))
                items.append(item)
                cands.append((f.quant, v))
                speeds.append(sp.tokens_per_s if sp else None)
        rec = recommend(cands, speeds if self.speed else None) if cands else None
        if rec is not None:
            items[rec].setText(3, items[rec].text(3) + "  ★ recommended")

    def _file_selected(self, item, _prev=None) -> None:
        f = item.data(0, ROLE) if item is not None else None
        self.download_button.setEnabled(bool(f) and f.kind == "model")
        if f and f.kind == "model" and item.toolTip(3):
            self.search_status.setText(f"{f.filename}: {item.toolTip(3)}")

    def download_hub_selection(self) -> None:
        item = self.files.currentItem()
        f: HubFile | None = item.data(0, ROLE) if item is not None else None
        if f is None or f.kind != "model":
            return
        self.start_download(DownloadRequest(f.repo_id, f.filename, f.revision, f.sha256, f.size,
                                            f"{f.repo_id} · {f.basename}"))

    # -- downloads --------------------------------------------------------------------------------
    def _row_for(self, key: str, request: DownloadRequest) -> DownloadRow:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = DownloadRow(key, request.label or request.basename, self)
            row.pause.clicked.connect(lambda: self.manager.pause(key))
            row.resume.clicked.connect(lambda: self.manager.resume(key))
            row.cancel.clicked.connect(lambda: self.manager.cancel(key))
            row.dismiss.clicked.connect(lambda: self._remove_row(key))
            self.downloads_layout.insertWidget(self.downloads_layout.count() - 1, row)
            self.no_downloads.hide()
        return row

    def _remove_row(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
        self.no_downloads.setVisible(not self.rows)

    def start_download(self, request: DownloadRequest) -> str:
        key = request.key
        self._row_for(key, request)
        self.manager.start(request)
        return key

    def _on_progress(self, p: DownloadProgress) -> None:
        row = self._row_for(p.key, p.request)
        row.update_from(p)
        self.progressShown.emit(p)
        if p.state == DownloadState.DONE:
            self.refresh_installed()
            self.modelsChanged.emit()

    # -- installed --------------------------------------------------------------------------------
    def refresh_installed(self) -> None:
        def done(result):
            models, (used, free) = result
            self._fill_installed(models)
            self.disk_label.setText(f"Model files use {fmt_bytes(used)}; {fmt_bytes(free)} free on that disk "
                                    f"({self.services.folders.models}).")

        self._run(lambda: (lib.list_installed(self.services), lib.disk_usage(self.services)), done,
                  lambda exc: self.installed_details.setText(f"The installed models could not be listed: {exc}"))

    def _fill_installed(self, models) -> None:
        t = self.installed_tree
        current = t.currentItem().data(0, ROLE).choice if t.currentItem() else None
        t.clear()
        for m, name in zip(models, lib.listed_names(models)):
            source = m.source or ("imported" if not m.managed else "")
            if not m.managed and not m.found_in:
                source += " (in place)"
            item = QTreeWidgetItem([name, m.quant or "", m.architecture or "", fmt_bytes(m.size), source,
                                    "✔" if m.is_default else ""])
            item.setData(0, ROLE, m)
            item.setToolTip(0, str(m.path))
            if m.error:
                item.setText(0, f"{name}  ⚠")
                item.setToolTip(0, m.error)
                if m.found_in and m.kind != "model":  # what it is, where the quantisation would be
                    item.setText(1, FOUND_KIND.get(m.kind, m.kind))
            t.addTopLevelItem(item)
            if current is not None and m.choice == current:
                t.setCurrentItem(item)
        self._installed_selected(t.currentItem())

    def installed_models(self) -> list:
        t = self.installed_tree
        return [t.topLevelItem(i).data(0, ROLE) for i in range(t.topLevelItemCount())]

    def _selected_installed(self):
        item = self.installed_tree.currentItem()
        return item.data(0, ROLE) if item is not None else None

    def _installed_selected(self, item, _prev=None) -> None:
        m = item.data(0, ROLE) if item is not None else None
        self.default_button.setEnabled(bool(m) and m.available and not m.is_default)
        self.delete_button.setEnabled(bool(m) and not m.embedded and not m.found_in)
        self.delete_button.setText("Delete…" if not m or m.managed else "Remove from library…")
        if m is None:
            self.installed_details.setText("")
            return
        bits = [str(m.path)]
        if m.found_in:
            bits[0] = f"{m.display_name.removesuffix(' (unavailable)')}, used where it is: {m.path}"
            bits += [f"Also in {where}" for where in m.also]
        if m.error:
            bits.append(m.error)
        else:
            bits.append(m.describe())
            if m.sha256:
                bits.append(f"SHA-256 {m.sha256}")
            if not m.chat_template:
                bits.append("No chat template: answers use a plain transcript format.")
        self.installed_details.setText("\n".join(bits))

    # -- found in other apps' folders --------------------------------------------------------------
    def set_use_found(self, on: bool) -> None:
        discover.set_use(self.services, on)
        self.refresh_installed()
        self.modelsChanged.emit()
        if on:
            self.services.discovery.start_identifying()

    def rescan(self, note: str = "") -> None:
        """Scan other apps' folders again; `note` stays after the status until the next scan."""
        self._folder_note = note
        self.rescan_button.setEnabled(False)
        self.found_status.setText("Looking for models in other apps' folders…")

        def done(result):
            self.rescan_button.setEnabled(True)
            self._show_scan(result)
            self.refresh_installed()
            self.modelsChanged.emit()
            if self.services.settings.use_found_models == "yes":
                self.services.discovery.start_identifying()

        def failed(exc):
            self.rescan_button.setEnabled(True)
            self.found_status.setText(f"Could not look for models: {exc}")

        self._run(self.services.discovery.scan, done, failed)

    def _show_scan(self, result) -> None:
        usable = len(result.models)
        other = len(result.found) - usable
        folders = f"{len(result.places)} folder{'s' if len(result.places) != 1 else ''}"
        text = (f"Found {usable} model{'s' if usable != 1 else ''} in {folders} of other apps ({result.seconds:.2f} s)"
                if usable else f"No models found in other apps' folders (looked in {folders}, {result.seconds:.2f} s)")
        if other:
            text += f"; {other} other file{'s' if other != 1 else ''} that cannot answer alone"
        self.found_status.setText(text + "." + self._folder_note + "".join(f"\n{p}" for p in result.problems))
        self.found_status.setToolTip("Looked in:\n" + "\n".join(f"{p.tool}: {p.root} ({p.why})"
                                                                  for p in result.places))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder with GGUF models", os.path.expanduser("~"))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str | os.PathLike) -> None:
        try:
            discover.add_folder(self.services, folder)
        except ValueError as exc:
            self._show_error("Folder not added", exc)
            return
        note = ""
        if not self.use_found.isChecked():
            # A folder's models are used as found models are: say so rather than tick the box unseen.
            note = " “Use models found in other apps' folders” is now on, so the folder's models are offered."
        self.use_found.blockSignals(True)
        self.use_found.setChecked(True)
        self.use_found.blockSignals(False)
        self._fill_folder_menu()
        self.rescan(note)

    def remove_folder(self, folder: str) -> None:
        """Stop looking in a folder the user added: its models leave the library and the pickers
        (the files are not touched)."""
        discover.remove_folder(self.services, folder)
        self._fill_folder_menu()
        self.rescan()

    def _fill_folder_menu(self) -> None:
        """The Remove folder button's menu: one entry per folder the user added (none: disabled)."""
        menu = self.remove_folder_button.menu()
        menu.clear()
        for folder in self.services.settings.model_folders:
            menu.addAction(folder, lambda folder=folder: self.remove_folder(folder))
        self.remove_folder_button.setEnabled(bool(self.services.settings.model_folders))

    def _on_identify_progress(self, p) -> None:
        if p.finished and p.files_total == 0:
            return  # nothing needed reading: the scan's own words stay ("No models found in …")
        self.found_status.setText(p.text() + self._folder_note)
        if p.finished:
            self.refresh_installed()  # details and hashes are in; two files may turn out to be one model
            self.modelsChanged.emit()

    def set_selected_default(self) -> None:
        m = self._selected_installed()
        if m is None:
            return
        try:
            lib.set_default(self.services, m)
        except (ValueError, OSError) as exc:
            self._show_error("Not set as default", exc)
            return
        self.refresh_installed()
        self.modelsChanged.emit()

    def open_selected_folder(self) -> None:
        m = self._selected_installed()
        folder = m.path.parent if m is not None else self.services.folders.models
        QDesktopServices.openUrl(QUrl.fromLocalFile(os.fspath(folder)))

    def delete_selected(self) -> None:
        m = self._selected_installed()
        if m is None or m.embedded:
            return
        if m.managed:
            text = (f"Delete {m.path.name} ({fmt_bytes(m.size)}) from your disk?\n\n{m.path}\n\n"
                    "You can download it again later.")
            action = "Delete"
        else:
            text = (f"Remove {m.path.name} from the library?\n\nThe file stays where it is:\n{m.path}")
            action = "Remove"
        if not self.confirm(self, "Delete model", text, action):
            return
        try:
            message = lib.delete(self.services, m)
        except (ValueError, OSError) as exc:
            self._show_error("Not deleted", exc)
            return
        self.installed_details.setText(message)
        self.refresh_installed()
        self.modelsChanged.emit()

    def choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a GGUF model", os.path.expanduser("~"),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str | os.PathLike) -> None:
        """Validate the header, hash and register (or copy) the file, on a worker."""
        copy = self.copy_on_import.isChecked()
        self.installed_details.setText(f"Importing {Path(path).name}: reading its header and computing its SHA-256…")
        self.import_button.setEnabled(False)

        def done(model):
            self.import_button.setEnabled(True)
            self.installed_details.setText(f"Imported {model.path.name}: {model.describe()}")
            self.tabs.setCurrentIndex(2)
            self.refresh_installed()
            self.modelsChanged.emit()

        def failed(exc):
            self.import_button.setEnabled(True)
            self.installed_details.setText(f"Not imported: {exc}")
            self._show_error("Not imported", exc)

        self._run(lambda: lib.import_file(self.services, path, copy=copy), done, failed)

    # -- token --------------------------------------------------------------------------------------
    def edit_token(self) -> None:
        from .settings_dialog import KeyRow

        d = QDialog(self)
        d.setWindowTitle("Hugging Face token")
        lay = QVBoxLayout(d)
        hub = self.hub.endpoint
        intro = QLabel(
            "Gated models (Llama, Gemma and others) are served only to signed-in users who accepted their licence. "
            f"Accept it on the model's page, create a <i>read</i> token at <a href='{hub}/settings/tokens'>"
            f"{hub}/settings/tokens</a> and paste it here. It is kept in your system keychain.", d)
        intro.setWordWrap(True)
        intro.setOpenExternalLinks(True)
        lay.addWidget(intro)
        lay.addWidget(KeyRow(self.services, secret_names.HUGGINGFACE, "HF_TOKEN", "hf_…", d))
        buttons = QDialogButtonBox(QDialogButtonBox.Close, d)
        buttons.rejected.connect(d.reject)
        lay.addWidget(buttons)
        d.exec()

    # -- lifetime -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Pause running downloads (kept for the next start) and let the workers finish."""
        self.manager.shutdown(timeout=5.0)
        self.services.discovery.unsubscribe(self._found_listener)
        self._inbox.wait_idle(5.0)


__all__ = ["LibraryDialog", "DownloadRow", "confirm", "fmt_eta"]
