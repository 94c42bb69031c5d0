"""The settings dialog offers exactly the ranges the settings file is checked against
(settings.RANGES): one source of truth, so a value the file accepts is one the dialog can show
and keep, and the dialog can never save one the file would refuse on the next start."""
import pytest

from desktop.core.settings import RANGES

# (kind, field) -> where the dialog shows it: an attribute of the dialog, or of its Connections tab.
WIDGETS = {
    ("Sampling", "temperature"): "temperature",
    ("Sampling", "top_p"): "top_p",
    ("Sampling", "top_k"): "top_k",
    ("Sampling", "repeat_penalty"): "repeat_penalty",
    ("Sampling", "max_tokens"): "max_tokens",
    ("Sampling", "seed"): "seed",
    ("LocalRuntime", "context_length"): "context",
    ("LocalRuntime", "gpu_layers"): "gpu_layers",
    ("LocalRuntime", "threads"): "threads",
    ("Connection", "timeout_s"): "connections.timeout",
    ("Connection", "max_concurrent"): "connections.max_concurrent",
}


@pytest.fixture
def dialog(qtbot, services):
    from desktop.ui.settings_dialog import SettingsDialog

    d = SettingsDialog(services)
    qtbot.addWidget(d)
    return d


def _widget(dialog, path):
    obj = dialog
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_range_is_the_dialogs_range(dialog):
    assert set(WIDGETS) == set(RANGES), "a number in settings.RANGES that the dialog does not show, or the reverse"
    for key, path in WIDGETS.items():
        spin = _widget(dialog, path)
        assert (spin.minimum(), spin.maximum()) == RANGES[key], key


def test_a_value_at_the_edge_of_its_range_is_shown_and_kept(qtbot, services):
    """Before, the file accepted a connection timeout of 1 s but the dialog's spin box started at
    5: opening Settings and pressing OK silently changed it."""
    from desktop.ui.settings_dialog import SettingsDialog

    services.settings.runtime.context_length = RANGES[("LocalRuntime", "context_length")][1]
    services.settings.connections[0].timeout_s = RANGES[("Connection", "timeout_s")][0]
    d = SettingsDialog(services)
    qtbot.addWidget(d)
    d.connections.list.setCurrentRow(0)
    assert d.context.value() == 262144 and d.connections.timeout.value() == 1.0
    d.accept()
    assert services.settings.connections[0].timeout_s == 1.0
    assert services.settings.runtime.context_length == 262144
