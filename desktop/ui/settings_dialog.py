"""Settings: connections (keys in the keychain, never shown), accounts, models, sampling, runtime, appearance."""
from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QMessageBox, QPlainTextEdit, QPushButton, QSpinBox, QTabWidget, QVBoxLayout, QWidget,
)

from ..core import secrets as secret_names
from ..core.secrets import NoKeychain, Source
from ..core.services import Services
from ..core.settings import RANGES
from .connections_tab import ConnectionsTab

SOURCE_TEXT = {
    Source.KEYCHAIN: "A key is stored in the system keychain ({backend}).",
    Source.SESSION: "A key is kept for this session only (it is forgotten when ArenaDesk quits).",
    Source.ENVIRONMENT: "Using the key from the environment variable {env}.",
    Source.NONE: "No key stored.",
}


def ranged(spin, settings_object, name: str):
    """`spin` limited to the range settings.RANGES gives this number (the one source of truth:
    the settings file is checked against the same ranges), showing the object's value."""
    low, high = RANGES[(type(settings_object).__name__, name)]
    spin.setRange(low, high)
    spin.setValue(getattr(settings_object, name))
    return spin


class KeyRow(QWidget):
    """Status, a field to enter a new key, Save and Remove. The stored key is never shown.
    optional: the connection needs no key (a local server), so "No key stored." is not said: the
    connection's own help already says it needs none."""

    def __init__(self, services: Services, name: str, env: str, placeholder: str, parent=None,
                 optional: bool = False):
        super().__init__(parent)
        self.services, self.name, self.env, self.optional = services, name, env, optional
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.field = QLineEdit(self)
        self.field.setEchoMode(QLineEdit.Password)
        self.field.setPlaceholderText(placeholder)
        self.session_only = QCheckBox("Keep for this session only", self)
        self.save = QPushButton("Save key", self)
        self.save.clicked.connect(self._save)
        self.save.setAutoDefault(False)
        self.field.returnPressed.connect(self._save)  # Enter stores the key rather than closing the dialog
        self.remove = QPushButton("Remove", self)
        self.remove.clicked.connect(self._remove)
        row = QHBoxLayout()
        row.addWidget(self.field, 1)
        row.addWidget(self.save)
        row.addWidget(self.remove)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.status)
        lay.addLayout(row)
        lay.addWidget(self.session_only)
        # Without a keychain there is no choice to make: a label says so (a greyed, ticked box with a
        # long text was cut off and read like an error). Broken by hand, not word-wrapped: the form
        # gives a wrapped label in a nested layout too little height, and it was cut off again.
        self.no_keychain = QLabel("No system keychain was found:\na key can be kept for this session only"
                                  + (f",\nor set {env}." if env else "."), self)
        lay.addWidget(self.no_keychain)
        has_keychain = services.secrets.keychain_available()
        self.session_only.setChecked(not has_keychain)
        self.session_only.setVisible(has_keychain)
        self.no_keychain.setVisible(not has_keychain)
        self.refresh()

    def refresh(self) -> None:
        src = self.services.secrets.get(self.name, env=self.env).source
        self.status.setText(SOURCE_TEXT[src].format(backend=self.services.secrets.keychain_name(), env=self.env))
        self.status.setVisible(not (self.optional and src is Source.NONE))
        self.remove.setEnabled(src in (Source.KEYCHAIN, Source.SESSION))

    def _save(self) -> bool:
        """Store a typed key; False when it could not be stored (the field keeps it)."""
        value = self.field.text().strip()
        if not value:
            return True
        try:
            self.services.secrets.set(self.name, value, session_only=self.session_only.isChecked(), env=self.env)
        except NoKeychain as exc:
            QMessageBox.warning(self, "Key not saved", str(exc))
            return False
        self.field.clear()
        self.refresh()
        return True

    def _remove(self) -> None:
        self.services.secrets.delete(self.name)
        self.refresh()


class SettingsDialog(QDialog):
    def __init__(self, services: Services, parent=None):
        super().__init__(parent)
        self.services = services
        s = services.settings
        self.setWindowTitle("Settings — ArenaDesk")
        self.setMinimumWidth(560)
        tabs = QTabWidget(self)

        # Connections: every OpenAI-compatible endpoint, each with its own key
        self.connections = ConnectionsTab(services, lambda name, env, placeholder, optional: KeyRow(
            services, name, env, placeholder, optional=optional))
        tabs.addTab(self.connections, "Connections")

        # Accounts
        acc = QWidget()
        form = QFormLayout(acc)
        self.hf_token = KeyRow(services, secret_names.HUGGINGFACE, "HF_TOKEN", "hf_… (for gated models)")
        form.addRow("Hugging Face token", self.hf_token)
        tabs.addTab(acc, "Accounts")

        # Models and sampling
        mod = QWidget()
        form = QFormLayout(mod)
        self.default_local = QComboBox()
        for label, choice in parent._local_models() if parent is not None and hasattr(parent, "_local_models") else []:
            self.default_local.addItem(label, choice.model)
        i = self.default_local.findData(s.default_local_model)
        self.default_local.setCurrentIndex(max(i, 0))
        form.addRow("Default local model", self.default_local)
        self.default_remote = QLineEdit(s.default_remote_model)
        form.addRow("Default API model", self.default_remote)
        self.system_prompt = QPlainTextEdit(s.system_prompt)
        self.system_prompt.setPlaceholderText("Sent to every pane before the conversation (optional)")
        self.system_prompt.setFixedHeight(70)
        form.addRow("System prompt", self.system_prompt)
        sp = s.sampling
        self.temperature = ranged(QDoubleSpinBox(singleStep=0.1, decimals=2), sp, "temperature")
        self.top_p = ranged(QDoubleSpinBox(singleStep=0.05, decimals=2), sp, "top_p")
        self.top_k = ranged(QSpinBox(), sp, "top_k")
        self.repeat_penalty = ranged(QDoubleSpinBox(singleStep=0.05, decimals=2), sp, "repeat_penalty")
        self.max_tokens = ranged(QSpinBox(singleStep=64), sp, "max_tokens")
        self.seed = ranged(QSpinBox(), sp, "seed")
        self.seed.setSpecialValueText("random")
        self.stop = QLineEdit(" | ".join(sp.stop))
        self.stop.setPlaceholderText("e.g.  USER: | ###   (separate with |)")
        self.stop.setToolTip("Text that ends an answer; useful for base models that keep writing the next turn")
        for label, w in (("Temperature", self.temperature), ("Top-p", self.top_p), ("Top-k (local only)", self.top_k),
                         ("Repeat penalty (local only)", self.repeat_penalty), ("Max tokens", self.max_tokens),
                         ("Seed", self.seed), ("Stop sequences", self.stop)):
            form.addRow(label, w)
        tabs.addTab(mod, "Models")

        # Local runtime
        run = QWidget()
        form = QFormLayout(run)
        rt = s.runtime
        self.gpu_layers = ranged(QSpinBox(), rt, "gpu_layers")
        self.gpu_layers.setSpecialValueText("all")
        self.gpu_layers.setToolTip("Layers to put on the GPU; 0 = CPU only. Needs a GPU build of llama-cpp-python.")
        self.threads = ranged(QSpinBox(), rt, "threads")
        self.threads.setSpecialValueText("automatic (physical cores)")
        self.context = ranged(QSpinBox(singleStep=1024), rt, "context_length")
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("CPU threads", self.threads)
        form.addRow("Context length", self.context)
        self.prompt_format = QComboBox()
        for label, value in (("The model's chat template", "auto"), ("Plain transcript", "transcript")):
            self.prompt_format.addItem(label, value)
        self.prompt_format.setCurrentIndex(max(self.prompt_format.findData(rt.prompt_format), 0))
        self.prompt_format.setToolTip("How a local model's prompt is written. \"Plain transcript\" (USER:/ASSISTANT:) "
                                      "is the way out for a file whose chat template is broken; models without a "
                                      "template always get it.")
        form.addRow("Prompt format", self.prompt_format)
        form.addRow(QLabel(self._gpu_note()))
        tabs.addTab(run, "Local models")

        # General
        gen = QWidget()
        form = QFormLayout(gen)
        self.theme = QComboBox()
        for label, value in (("Follow the system", "system"), ("Light", "light"), ("Dark", "dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(self.theme.findData(s.theme), 0))
        form.addRow("Appearance", self.theme)
        data = QHBoxLayout()
        path = QLabel(str(services.folders.data))
        path.setWordWrap(True)
        data.addWidget(path, 1)
        open_data = QPushButton("Open")
        open_data.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(services.folders.data))))
        data.addWidget(open_data)
        form.addRow("Data folder", data)
        form.addRow(QLabel("To keep everything in another folder (a USB stick, a synced folder),\n"
                           "start ArenaDesk with --home DIR or set ARENADESK_HOME."))
        tabs.addTab(gen, "General")

        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(tabs)
        lay.addWidget(buttons)
        # The width its rows ask for: a top-level window is otherwise held to 2/3 of a small screen's
        # width, where the wrapped help lines need more height than the form's layout gives them.
        self.resize(self.sizeHint())

    def _gpu_note(self) -> str:
        from ..core.engines.local import gpu_offload_supported

        return ("This llama.cpp build can offload layers to the GPU." if gpu_offload_supported() else
                "This llama.cpp build runs on the CPU only. To use a GPU, reinstall with\n"
                "LLAMA_CMAKE_ARGS=-DGGML_CUDA=on (or METAL / VULKAN); see the README.")

    def accept(self) -> None:
        # A key typed but not yet stored with "Save key" is what the user means to keep.
        if not (self.connections.save_key() and self.hf_token._save()):
            return
        problem = self.connections.validate()
        if problem:
            self.connections.warn(problem)
            return
        s = self.services.settings
        self.connections.apply()
        if self.default_local.currentData():
            s.default_local_model = self.default_local.currentData()
        s.default_remote_model = self.default_remote.text().strip() or s.default_remote_model
        s.system_prompt = self.system_prompt.toPlainText()
        sp = s.sampling
        sp.temperature, sp.top_p, sp.top_k = self.temperature.value(), self.top_p.value(), self.top_k.value()
        sp.repeat_penalty, sp.max_tokens, sp.seed = self.repeat_penalty.value(), self.max_tokens.value(), self.seed.value()
        sp.stop = [x.strip() for x in self.stop.text().split("|") if x.strip()]
        rt = s.runtime
        rt.gpu_layers, rt.threads, rt.context_length = self.gpu_layers.value(), self.threads.value(), self.context.value()
        rt.prompt_format = self.prompt_format.currentData()
        s.theme = self.theme.currentData()
        self.services.save_settings()
        from PySide6.QtWidgets import QApplication

        from .theme import apply_theme

        apply_theme(QApplication.instance(), s.theme)
        super().accept()

    def reject(self) -> None:
        self.connections.discard()
        super().reject()
