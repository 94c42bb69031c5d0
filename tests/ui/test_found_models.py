"""Models found in other apps' folders, in the window: the first-run offer, the pickers, the
library's Installed tab, and a found file that goes away before it is used."""
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from chat_model import SHA256 as CHAT_SHA
from desktop.core import settings as settings_io
from desktop.core.services import Services
from desktop.ui.library_dialog import LibraryDialog
from desktop.ui.main_window import MainWindow
from found_layouts import link, ollama, tiny_gguf

ROUND_TIMEOUT_MS = 90_000


@pytest.fixture
def other_apps(chat_model, embedded_model):
    """Ollama holds the chat model; LM Studio a vision projector and the chat model again (one file)."""
    home = Path.home()  # conftest: a temporary folder
    blob = ollama(home / ".ollama" / "models", "smollm2", "135m", chat_model, CHAT_SHA)
    lms = home / ".lmstudio" / "models" / "me" / "SmolVLM-GGUF"
    tiny_gguf(lms / "mmproj-SmolVLM-f16.gguf", arch="clip", general_type="mmproj")
    link(chat_model, lms / "SmolLM2-again.gguf")
    gpt = Path(os.environ["XDG_DATA_HOME"]) / "nomic.ai" / "GPT4All"  # conftest sets XDG_DATA_HOME
    gpt.mkdir(parents=True)
    (gpt / "incomplete-Llama-3.2-3B.gguf").write_bytes(b"GGUF")
    return blob


def picker_texts(pane):
    return [pane.picker.itemText(i) for i in range(pane.picker.count())]


def open_window(qtbot, services):
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    return w


def test_first_window_offers_them_and_remembers_yes(qtbot, services, other_apps):
    w = open_window(qtbot, services)
    messages = []
    w.statusBar().messageChanged.connect(messages.append)
    offer = w.found_offer
    qtbot.waitUntil(offer.isVisible, timeout=10_000)
    # The projector and the partial download are no models; the second link is the same file.
    assert offer.label.text() == "Found 1 model from Ollama — use it?"
    assert not any("from Ollama" in t for t in picker_texts(w.panes[0]))
    qtbot.mouseClick(offer.use_button, Qt.LeftButton)
    assert not offer.isVisible()
    assert "from Ollama: smollm2:135m · local" in picker_texts(w.panes[0])
    assert "from LM Studio" not in " ".join(picker_texts(w.panes[0]))
    saved = settings_io.load(services.folders.settings_file).settings
    assert saved.use_found_models == "yes"
    qtbot.waitUntil(lambda: "Identified 1 found model." in messages, timeout=20_000)
    w.close()

    again = Services.open()
    try:
        w2 = open_window(qtbot, again)
        qtbot.waitUntil(lambda: "from Ollama: smollm2:135m · local" in picker_texts(w2.panes[0]), timeout=10_000)
        qtbot.wait(300)
        assert not w2.found_offer.isVisible()  # asked once
        w2.close()
    finally:
        again.close()


def test_no_thanks_is_remembered_and_the_library_can_change_it(qtbot, services, other_apps):
    w = open_window(qtbot, services)
    qtbot.waitUntil(w.found_offer.isVisible, timeout=10_000)
    qtbot.mouseClick(w.found_offer.no_button, Qt.LeftButton)
    assert not w.found_offer.isVisible() and "Models → Installed" in w.statusBar().currentMessage()
    assert settings_io.load(services.folders.settings_file).settings.use_found_models == "no"
    assert not any("from Ollama" in t for t in picker_texts(w.panes[0]))

    w.open_library()
    d = w._dialogs["library"]
    assert not d.use_found.isChecked()
    d.use_found.setChecked(True)  # the user changes their mind
    qtbot.waitUntil(lambda: "from Ollama: smollm2:135m · local" in picker_texts(w.panes[0]), timeout=10_000)
    w.close()


@pytest.fixture
def dialog(qtbot, services):
    d = LibraryDialog(services)
    qtbot.addWidget(d)
    d.show()
    yield d
    d.shutdown()
    d.close()


def installed_rows(d):
    t = d.installed_tree
    return {t.topLevelItem(i).text(0): t.topLevelItem(i) for i in range(t.topLevelItemCount())}


def test_installed_tab_shows_where_they_came_from_and_what_cannot_answer(qtbot, services, other_apps, tmp_path):
    services.settings.use_found_models = "yes"
    folder = tmp_path / "my-models"
    tiny_gguf(folder / "mine" / "tiny.gguf")
    d = LibraryDialog(services)
    qtbot.addWidget(d)
    d.show()
    try:
        qtbot.waitUntil(lambda: "smollm2:135m" in installed_rows(d), timeout=10_000)
        rows = installed_rows(d)
        chat = rows["smollm2:135m"]
        assert chat.text(4) == "from Ollama: smollm2:135m"
        proj = rows["me/SmolVLM-GGUF/mmproj-SmolVLM-f16  ⚠"]
        assert proj.text(4) == "from LM Studio: me/SmolVLM-GGUF/mmproj-SmolVLM-f16"
        assert "vision projector" in proj.toolTip(0)
        assert "Llama-3.2-3B  ⚠" in rows and "not finished" in rows["Llama-3.2-3B  ⚠"].toolTip(0)
        d.installed_tree.setCurrentItem(chat)
        assert not d.delete_button.isEnabled()  # another app's file: never deleted from here
        assert "used where it is" in d.installed_details.text()
        assert "Also in LM Studio: me/SmolVLM-GGUF/SmolLM2-again" in d.installed_details.text()
        qtbot.waitUntil(lambda: "Identified" in d.found_status.text() or "Found" in d.found_status.text(),
                        timeout=10_000)

        d.add_folder(folder)
        qtbot.waitUntil(lambda: "mine/tiny" in installed_rows(d), timeout=10_000)
        assert installed_rows(d)["mine/tiny"].text(4).startswith("from ") and \
            installed_rows(d)["mine/tiny"].text(4).endswith("my-models: mine/tiny")
        assert settings_io.load(services.folders.settings_file).settings.model_folders == [str(folder.resolve())]

        d.use_found.setChecked(False)
        qtbot.waitUntil(lambda: "smollm2:135m" not in installed_rows(d), timeout=10_000)
    finally:
        d.shutdown()
        d.close()


def test_a_folder_you_added_can_be_removed_and_its_models_go_untouched(qtbot, dialog, services, tmp_path):
    d = dialog
    folder = tmp_path / "my-models"
    model = tiny_gguf(folder / "mine" / "tiny.gguf")
    assert not d.remove_folder_button.isEnabled()  # nothing added yet
    d.add_folder(folder)
    qtbot.waitUntil(lambda: "mine/tiny" in installed_rows(d), timeout=10_000)
    menu = d.remove_folder_button.menu()
    assert d.remove_folder_button.isEnabled() and [a.text() for a in menu.actions()] == [str(folder.resolve())]
    menu.actions()[0].trigger()  # what choosing it in the button's menu does
    qtbot.waitUntil(lambda: "mine/tiny" not in installed_rows(d), timeout=10_000)
    assert not d.remove_folder_button.isEnabled() and menu.actions() == []
    assert settings_io.load(services.folders.settings_file).settings.model_folders == []
    assert model.is_file()  # no longer looked in; its file is as it was


def test_found_file_gone_before_use_says_so_in_the_pane(qtbot, services, other_apps):
    services.settings.use_found_models = "yes"
    w = open_window(qtbot, services)
    choice = f"local:{other_apps}"
    qtbot.waitUntil(lambda: w.panes[0].picker.findData(choice) >= 0, timeout=10_000)
    w.services.engines.reset()
    other_apps.unlink()  # Ollama removed it (ollama rm) after the scan
    w.choose_model(0, choice)
    w.remove_pane(w.panes[1])
    w.prompt.setFocus()
    qtbot.keyClicks(w.prompt, "Hi")
    with qtbot.waitSignal(w.roundFinished, timeout=ROUND_TIMEOUT_MS):
        qtbot.keyClick(w.prompt, Qt.Key_Return, Qt.ControlModifier)
    text = w.panes[0].view.toPlainText()
    assert "Model file not found" in text and "Pick another model" in text
    w.close()


def test_the_models_dialog_says_what_it_does_in_plain_words(qtbot, dialog, services, tmp_path):
    """s20 review #11: two Installed rows read the same name; Add folder… ticked "Use models found
    in other apps' folders" unseen; Remove folder left "Identified 0 found models."; ★ had no legend;
    "speed…" did not say it was measuring."""
    from desktop.core.library import installed as lib
    from desktop.core.library.hardware import Fit, FitVerdict
    from desktop.ui.library_dialog import verdict_text

    d = dialog
    lib.import_file(services, tiny_gguf(tmp_path / "elsewhere" / "tiny.gguf", tensors=1))  # imported in place
    folder = tmp_path / "my-models"
    tiny_gguf(folder / "tiny.gguf", tensors=2)  # another file that reads "tiny" too
    d.refresh_installed()
    qtbot.waitUntil(lambda: "tiny" in installed_rows(d), timeout=10_000)
    assert not d.use_found.isChecked()
    d.add_folder(folder)
    qtbot.waitUntil(lambda: len([n for n in installed_rows(d) if n.startswith("tiny")]) == 2, timeout=10_000)
    names = sorted(n for n in installed_rows(d) if n.startswith("tiny"))
    assert names[0] == "tiny · from …/my-models", names
    assert names[1] == "tiny · imported in place", names
    assert d.use_found.isChecked()
    qtbot.waitUntil(lambda: "is now on" in d.found_status.text(), timeout=10_000)
    assert "“Use models found in other apps' folders” is now on" in d.found_status.text()
    assert "turns on “Use models found in other apps' folders”" in d.add_folder_button.toolTip()

    d.remove_folder(str(folder.resolve()))
    qtbot.waitUntil(lambda: d.found_status.text().startswith("No models found in other apps' folders"),
                    timeout=10_000)
    qtbot.wait(300)  # the identifying job that follows leaves those words
    assert d.found_status.text().startswith("No models found in other apps' folders"), d.found_status.text()
    assert installed_rows(d).get("tiny") is not None  # one "tiny" again: its name alone

    # The dialog fits its screen's height, Close button and all (at 1280×720 it was 760 pixels tall).
    assert d.height() <= d.screen().availableGeometry().height() - 40

    header = d.catalog_tree.headerItem()
    assert header.text(3) == "Will it run here? (★ recommended)" and "★ marks the one file" in header.toolTip(3)
    measuring = verdict_text(FitVerdict(Fit.RAM, 0, 0, 0, 0, None, 0, False), None, measuring=True)
    assert measuring == "✔ RAM (CPU) · measuring speed…"
