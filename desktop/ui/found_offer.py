"""The first window's offer to use the models found in other apps' folders ("Found 4 models
from Ollama and LM Studio — use them?"), and the status of identifying them afterwards.

A bar under the toolbar, not a modal dialog: the window is usable while it waits for an
answer, and the answer is remembered in the settings (core/library/discover.py).
"""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QPushButton, QToolBar

# core.library.discover (and services.discovery) import gguf, numpy and huggingface_hub: they are
# reached in start() and after, once the window is on screen, never while it is being built.


class FoundModelsOffer(QToolBar):
    """Scans once the window is up (start(), on a worker); offers what it found while the settings
    say "ask"; when the user chose "yes", adds new finds to the pickers and starts identifying them."""

    def __init__(self, window: QMainWindow, services, inbox, on_models_changed):
        super().__init__("Models found in other apps", window)
        self.window_ = window
        self.services = services
        self.inbox = inbox
        self.on_models_changed = on_models_changed
        self.found: list = []  # the models offered
        self.setObjectName("foundModelsOffer")
        self.setMovable(False)
        self.label = QLabel(self)
        self.label.setContentsMargins(8, 0, 8, 0)
        self.use_button = QPushButton("Use them", self)
        self.use_button.setToolTip("They stay where they are: ArenaDesk reads them and never changes them")
        self.use_button.clicked.connect(self.accept)
        self.no_button = QPushButton("No, thanks", self)
        self.no_button.setToolTip("You can change this later in Models → Installed")
        self.no_button.clicked.connect(self.decline)
        self.addWidget(self.label)
        self.addWidget(self.use_button)
        self.addWidget(self.no_button)
        window.addToolBarBreak()  # the top area, the default
        window.addToolBar(self)
        self.hide()
        self._listener = lambda p: self.inbox.post(self._on_progress, p)  # called on the worker thread
        self._started = False

    def start(self) -> None:
        """Listen to the identifying job and scan (the window calls this once it is shown)."""
        if self._started:
            return
        self._started = True
        services, listener = self.services, self._listener
        self.destroyed.connect(lambda *_: "discovery" in services.__dict__ and services.discovery.unsubscribe(listener))
        self.scan()

    def scan(self) -> None:
        services, listener = self.services, self._listener

        def work():
            d = services.discovery  # made here, on the worker: its imports take a moment
            d.unsubscribe(listener)  # once, however often this scans
            d.subscribe(listener)
            d.scan()
            return d.new_models() if self.services.settings.use_found_models == "ask" else []

        self.inbox.run("discover", work, self._on_scanned)

    def _on_scanned(self, new, error) -> None:
        if error is not None:
            self.window_.statusBar().showMessage(f"Could not look for models in other apps: {error}", 15000)
            return
        from ..core.library import discover

        use = self.services.settings.use_found_models
        if use == "ask" and new:
            self.found = new
            self.label.setText(discover.offer_text([m.found_in for m in new]))
            self.use_button.setText("Use them" if len(new) > 1 else "Use it")
            self.show()
        elif use == "yes":
            self.on_models_changed()
            self.services.discovery.start_identifying()

    def accept(self) -> None:
        from ..core.library import discover

        discover.set_use(self.services, True)
        self.hide()
        self.on_models_changed()
        self.window_.statusBar().showMessage(
            f"Added {len(self.found)} model{'s' if len(self.found) != 1 else ''} to the pickers, used where "
            "they are.", 10000)
        self.services.discovery.start_identifying()

    def decline(self) -> None:
        from ..core.library import discover

        discover.set_use(self.services, False)
        self.hide()
        self.window_.statusBar().showMessage("Not using them. Models → Installed can add them later.", 10000)

    def _on_progress(self, p) -> None:
        self.window_.statusBar().showMessage(p.text(), 8000 if p.finished else 0)
        if p.finished:
            self.on_models_changed()  # a hash can show two entries are one model
