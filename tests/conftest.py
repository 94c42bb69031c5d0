"""Shared fixtures. Every test gets its own ArenaDesk home (data, config, cache,
logs) under pytest's tmp_path, an in-memory keychain, and Qt offscreen; no
test reads or writes the user's folders."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("HF_TOKEN", None)

pytest_plugins = ["servers", "fakehub"]  # loopback OpenAI-compatible servers and Hugging Face hub


class MemoryKeyring:
    """A real keyring backend that keeps secrets in memory (the machine has no Secret Service)."""

    @staticmethod
    def make():
        import keyring.backend

        class _Memory(keyring.backend.KeyringBackend):
            priority = 1

            def __init__(self):
                super().__init__()
                self.store = {}

            def get_password(self, service, username):
                return self.store.get((service, username))

            def set_password(self, service, username, password):
                self.store[(service, username)] = password

            def delete_password(self, service, username):
                self.store.pop((service, username), None)

        return _Memory()


@pytest.fixture(autouse=True)
def arenadesk_home(tmp_path, monkeypatch):
    home = tmp_path / "arenadesk-home"
    monkeypatch.setenv("ARENADESK_HOME", str(home))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    # Model discovery looks in the user's home and where these variables point (LM Studio,
    # Ollama, the Hugging Face cache…): a test sees only the folders it builds itself.
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    for var in ("USERPROFILE", "APPDATA", "LOCALAPPDATA", "OLLAMA_MODELS", "HF_HOME", "HF_HUB_CACHE",
                "HUGGINGFACE_HUB_CACHE", "LLAMA_CACHE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(autouse=True)
def memory_keyring():
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring.make()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def embedded_model(tmp_path_factory) -> Path:
    """The real Gemma 3 270M GGUF, assembled and verified once per test session."""
    from desktop.core.library.embedded import embedded_model_path

    return embedded_model_path(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def chat_model() -> Path:
    """The real instruct model with a ChatML template (SmolLM2-135M-Instruct), see chat_model.py."""
    from chat_model import chat_model_path

    return chat_model_path()


@pytest.fixture
def services(arenadesk_home, embedded_model):
    """The core composed on a fresh home, with the embedded model already in its models folder."""
    from desktop.core.library.embedded import NAME
    from desktop.core.paths import folders
    from desktop.core.services import Services

    f = folders().ensure()
    target = f.models / NAME
    try:
        os.link(embedded_model, target)
    except OSError:
        shutil.copyfile(embedded_model, target)
    (f.models / (NAME + ".verified")).write_text(str(target.stat().st_size))
    s = Services.open()
    yield s
    s.close()
