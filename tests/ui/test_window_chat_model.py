"""The real window with the real instruct model (SmolLM2-135M-Instruct, a ChatML template)
imported as a user would, next to the built-in base model: both answer, and what the pane
shows is the answer, not an empty or cut-off one."""
from PySide6.QtCore import Qt

from desktop.ui.main_window import MainWindow

ROUND_TIMEOUT_MS = 120_000


def test_an_imported_chat_model_answers_in_its_pane_beside_the_base_model(qtbot, services, chat_model, tmp_path):
    import shutil

    services.settings.sampling.max_tokens = 64
    services.settings.sampling.temperature = 0.0
    services.settings.sampling.seed = 1
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    try:
        copy = tmp_path / chat_model.name
        shutil.copyfile(chat_model, copy)  # Import .gguf… copies or links; a file of the user's own
        w.import_model(str(copy))
        qtbot.waitUntil(lambda: w.panes[0].choice() == f"local:{copy}", timeout=60_000)
        w.choose_model(1, "local:default")
        assert w.panes[1].choice() == "local:default"

        w.prompt.setFocus()
        qtbot.keyClicks(w.prompt, "What is the capital of France?")
        with qtbot.waitSignal(w.roundFinished, timeout=ROUND_TIMEOUT_MS):
            qtbot.keyClick(w.prompt, Qt.Key_Return, Qt.ControlModifier)

        chat, base = w.panes
        for pane in (chat, base):
            shown = pane.view.toPlainText()
            answer = shown.split("What is the capital of France?", 1)[1]
            assert "Paris" in answer, shown  # the answer text is on screen
            assert "(no answer)" not in shown and "No answer" not in shown
            assert "token limit" not in shown  # it ended on its own
            assert "tokens" in pane.metrics.text() and "first token" in pane.metrics.text()
        assert "<|im_end|>" not in chat.view.toPlainText()
    finally:
        w.close()
