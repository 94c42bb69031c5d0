"""The library dialog driven with qtbot against the loopback hub: search, pick,
download with the progress bar moving, the model in the installed list and in
a pane's picker, gated models, pause/resume, import, default and delete."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.core.library.downloads import DownloadState
from desktop.ui.library_dialog import LibraryDialog
from fakehub import make_gguf

REPO = "bartowski/Tiny-Chat-GGUF"
FILE = "Tiny-Chat-Q4_K_M.gguf"
WAIT = 30_000


@pytest.fixture
def model_file(tmp_path) -> Path:
    return make_gguf(tmp_path / "src" / FILE, n_floats=1024 * 1024)  # ~4 MB


@pytest.fixture
def dialog(qtbot, services, fake_hub):
    d = LibraryDialog(services)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitUntil(lambda: d.memory is not None, timeout=WAIT)  # hardware measured on a worker
    yield d
    d.shutdown()


def search_and_pick(qtbot, d, query: str, filename: str):
    d.tabs.setCurrentIndex(1)
    qtbot.keyClicks(d.search_edit, query)
    qtbot.mouseClick(d.search_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: d.results.topLevelItemCount() > 0, timeout=WAIT)
    d.results.setCurrentItem(d.results.topLevelItem(0))
    qtbot.waitUntil(lambda: d.files.topLevelItemCount() > 0, timeout=WAIT)
    item = next(d.files.topLevelItem(i) for i in range(d.files.topLevelItemCount())
                if d.files.topLevelItem(i).text(0) == filename)
    d.files.setCurrentItem(item)
    return item


def test_search_pick_download_and_it_is_installed(qtbot, dialog, fake_hub, model_file, services):
    d = dialog
    spec = fake_hub.add_file(REPO, FILE, model_file)
    fake_hub.add_file(REPO, "mmproj-Tiny-Chat-f16.gguf", model_file)
    fake_hub.throttle_bps = 2_500_000  # ~1.7 s: several progress updates
    item = search_and_pick(qtbot, d, "tiny", FILE)
    assert d.results.topLevelItem(0).text(0) == REPO
    assert item.text(1) == "Q4_K_M" and "MB" in item.text(2)
    assert item.text(3).startswith("✔")  # a 4 MB model fits anywhere
    assert "★ recommended" in item.text(3)
    mmproj = d.files.findItems("mmproj-Tiny-Chat-f16.gguf", Qt.MatchExactly)[0]
    assert mmproj.isDisabled()
    assert d.download_button.isEnabled()

    bar_values, infos = [], []

    def watch(p):
        row = d.rows.get(p.key)
        if row is not None:
            bar_values.append(row.bar.value())
            infos.append(row.info.text())

    d.progressShown.connect(watch)  # emitted once the row shows the progress
    with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
        qtbot.mouseClick(d.download_button, Qt.LeftButton)
    moving = [v for v in bar_values if 0 < v < 1000]
    assert len(set(moving)) >= 3, bar_values  # the bar moved through several values
    assert moving == sorted(moving) and bar_values[-1] == 1000
    assert any("/s" in t and "left" in t for t in infos), infos  # speed and ETA shown
    row = next(iter(d.rows.values()))
    assert row.state == DownloadState.DONE and "SHA-256 verified" in row.info.text()
    assert row.dismiss.isVisible() and not row.pause.isVisible()

    dest = services.folders.models / "bartowski" / "Tiny-Chat-GGUF" / FILE
    qtbot.waitUntil(lambda: any(m.path == dest for m in d.installed_models()), timeout=WAIT)
    m = next(m for m in d.installed_models() if m.path == dest)
    assert m.sha256 == spec.sha256 and m.source == REPO and m.quant == "Q4_K_M"
    assert d.installed_models()[0].embedded
    qtbot.mouseClick(row.dismiss, Qt.LeftButton)
    assert d.rows == {} and d.no_downloads.isVisibleTo(d)


def test_downloaded_model_appears_in_a_panes_picker(qtbot, services, fake_hub, model_file):
    from desktop.ui.main_window import MainWindow

    fake_hub.add_file(REPO, FILE, model_file)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    w.open_library()
    d = w._dialogs["library"]
    try:
        choice = "local:" + os.fspath(services.folders.models / "bartowski" / "Tiny-Chat-GGUF" / FILE)
        assert all(p.picker.findData(choice) < 0 for p in w.panes)
        search_and_pick(qtbot, d, "tiny", FILE)
        with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
            qtbot.mouseClick(d.download_button, Qt.LeftButton)
        # No restart: every pane's picker offers the new model now.
        for p in w.panes:
            i = p.picker.findData(choice)
            assert i >= 0 and "Tiny-Chat-Q4_K_M" in p.picker.itemText(i)
    finally:
        d.shutdown()
        w.close()


def test_gated_catalog_model_says_how_to_get_access(qtbot, dialog, fake_hub, tmp_path):
    d = dialog
    gated = next(m for m in d.catalog if m.gated)
    small = make_gguf(tmp_path / "g.gguf")
    fake_hub.add_file(gated.repo_id, gated.files[0].filename, small, gated=True)
    top = next(d.catalog_tree.topLevelItem(i) for i in range(d.catalog_tree.topLevelItemCount())
               if d.catalog_tree.topLevelItem(i).data(0, Qt.UserRole)[1] == gated.id)
    assert "gated" in top.text(0)
    d.catalog_tree.setCurrentItem(top.child(0))
    assert "accept the licence" in d.catalog_details.text()
    qtbot.mouseClick(d.catalog_download, Qt.LeftButton)
    row = next(iter(d.rows.values()))
    qtbot.waitUntil(lambda: row.state == DownloadState.FAILED, timeout=WAIT)
    text = row.info.text()
    assert "gated" in text and "accept the licence" in text and "Settings → Accounts → Hugging Face token" in text
    assert row.resume.isVisible()  # try again after adding the token

    # Add the token (as the token dialog does), resume: it downloads.
    from desktop.core.secrets import HUGGINGFACE

    fake_hub.accepted_token = "hf_granted"
    d.services.secrets.set(HUGGINGFACE, "hf_granted")
    with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
        qtbot.mouseClick(row.resume, Qt.LeftButton)
    assert row.state == DownloadState.DONE


def test_catalog_shows_verdicts_and_a_recommendation(qtbot, dialog):
    d = dialog
    assert d.catalog_tree.topLevelItemCount() == len(d.catalog) >= 15
    for i in range(d.catalog_tree.topLevelItemCount()):
        top = d.catalog_tree.topLevelItem(i)
        assert top.childCount() >= 1
        marks = [top.child(j).text(3) for j in range(top.childCount())]
        assert all(m.startswith(("✔", "✖")) for m in marks), marks
        assert sum("★" in m for m in marks) <= 1
    assert "RAM" in d.hardware.text()


def _catalog_row(d, model_id):
    return next(d.catalog_tree.topLevelItem(i) for i in range(d.catalog_tree.topLevelItemCount())
                if d.catalog_tree.topLevelItem(i).data(0, Qt.UserRole)[1] == model_id)


def test_catalog_shows_predicted_speed_measured_on_this_machine(qtbot, dialog, services):
    """The built-in model really runs (a few seconds, on a worker); then every file that fits
    shows its predicted speed beside the memory verdict, and the header says where it came from."""
    d = dialog
    qtbot.waitUntil(lambda: d.speed is not None, timeout=180_000)
    assert d.speed.cpu_tps > 0 and d.speed.threads >= 1
    assert "measured decode bandwidth" in d.hardware.text() and "GB/s" in d.hardware.text()
    for i in range(d.catalog_tree.topLevelItemCount()):
        top = d.catalog_tree.topLevelItem(i)
        for j in range(top.childCount()):
            mark = top.child(j).text(3)
            assert ("tok/s" in mark) == mark.startswith("✔"), mark  # a speed for every file that fits
            if "tok/s" in mark:
                assert "Predicted speed" in top.child(j).toolTip(3)
    # The speed is in the same cell as the memory verdict: "✔ RAM (CPU) · ~N tok/s".
    tiny = _catalog_row(d, "gemma-3-1b-it").child(0).text(3)
    assert tiny.startswith("✔") and " · ~" in tiny and "tok/s" in tiny
    # Kept for the next look: the cache file is there, and it belongs to this machine and these settings.
    assert (services.folders.cache / "speed-profile.json").is_file()


def test_slow_files_say_so_and_the_recommendation_follows_speed(qtbot, dialog, services):
    """With a slow machine's measurement (a 2-core laptop at 10 GB/s, injected), a 14B model says
    "slow" and the quant recommended is the fastest, not the usual Q4_K_M."""
    from desktop.core.library.speed import SpeedProfile

    d = dialog
    qtbot.waitUntil(lambda: d.speed is not None, timeout=180_000)  # let the real measurement land first
    d.speed = SpeedProfile("injected", 10e9, None, 40.0, 253_000_000, 2, 0.0, False)
    d._refresh_verdicts()
    phi4 = _catalog_row(d, "phi-4")
    marks = {phi4.child(j).text(1): phi4.child(j).text(3) for j in range(phi4.childCount())}
    assert all("— slow" in m or "— very slow" in m or m.startswith("✖") for m in marks.values()), marks
    assert "★ recommended" in marks["Q3_K_L"] and "★" not in marks["Q4_K_M"]
    assert "tok/s — slow" in phi4.text(3) and phi4.text(1) == "Q3_K_L"
    small = _catalog_row(d, "qwen2.5-1.5b-instruct")
    assert "slow" not in small.text(3) and "tok/s" in small.text(3)


def test_changed_settings_are_measured_again_when_the_dialog_shows(qtbot, dialog, services):
    d = dialog
    qtbot.waitUntil(lambda: d.speed is not None, timeout=180_000)
    first = d.speed
    d.hide()
    services.settings.runtime.threads = 1 if first.threads != 1 else 2
    d.show()
    qtbot.waitUntil(lambda: d.speed is not None and d.speed is not first, timeout=180_000)
    assert d.speed.threads == services.settings.runtime.threads
    assert d.speed.fingerprint != first.fingerprint


def test_offline_download_row_says_so_in_plain_words_and_resume_is_offered(qtbot, services, fake_hub, model_file):
    """Nothing answers at the hub's address: the row says "Offline — will resume when the
    connection is back" while it tries, then shows Paused with a Resume button."""
    import socket

    from desktop.core.library.downloads import DownloadManager, DownloadRequest

    spec = fake_hub.add_file(REPO, FILE, model_file)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from desktop.core.library.hub import Hub

    manager = DownloadManager.for_services(services, retries=2, backoff=0.2,
                                           hub=Hub(hub_endpoint=f"http://127.0.0.1:{port}"))
    d = LibraryDialog(services, manager=manager)
    qtbot.addWidget(d)
    d.show()
    seen = []
    d.progressShown.connect(lambda p: seen.append((p.state, d.rows[p.key].info.text())))
    d.start_download(DownloadRequest(REPO, FILE, sha256=spec.sha256, size=spec.size))
    row = next(iter(d.rows.values()))
    qtbot.waitUntil(lambda: row.state == DownloadState.PAUSED, timeout=WAIT)
    assert any(state == DownloadState.RETRYING and text.startswith("Offline — will resume when the connection is back")
               for state, text in seen), seen
    assert row.info.text().startswith("Offline — paused") and row.resume.isVisible()
    assert not any("Errno" in text for _, text in seen)
    d.shutdown()


def test_pause_and_resume_from_the_panel(qtbot, dialog, fake_hub, model_file):
    d = dialog
    fake_hub.add_file(REPO, FILE, model_file)
    fake_hub.throttle_bps = 1_000_000
    search_and_pick(qtbot, d, "tiny", FILE)
    qtbot.mouseClick(d.download_button, Qt.LeftButton)
    row = next(iter(d.rows.values()))
    qtbot.waitUntil(lambda: row.state == DownloadState.DOWNLOADING and row.bar.value() > 0, timeout=WAIT)
    qtbot.mouseClick(row.pause, Qt.LeftButton)
    qtbot.waitUntil(lambda: row.state == DownloadState.PAUSED, timeout=WAIT)
    assert "Paused" in row.info.text() and row.resume.isVisible()
    fake_hub.throttle_bps = None
    with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
        qtbot.mouseClick(row.resume, Qt.LeftButton)
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in fake_hub.range_requests(FILE))


def _click_in_message_box(text: str):
    def click():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            for b in box.buttons():
                if b.text() == text:
                    b.click()
                    return
        QTimer.singleShot(50, click)

    QTimer.singleShot(50, click)


def test_import_set_default_and_delete(qtbot, dialog, services, tmp_path):
    d = dialog
    d.tabs.setCurrentIndex(2)
    src = make_gguf(tmp_path / "mine" / "Mine-Q8_0.gguf", file_type=7)
    with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
        d.import_file(src)
    qtbot.waitUntil(lambda: any(m.path == src.resolve() for m in d.installed_models()), timeout=WAIT)

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(src.read_bytes()[:1000])
    _click_in_message_box("OK")  # the warning that says why
    d.import_file(bad)
    qtbot.waitUntil(lambda: "Not imported" in d.installed_details.text(), timeout=WAIT)
    assert "bad.gguf is truncated" in d.installed_details.text()

    def select(path):
        t = d.installed_tree
        for i in range(t.topLevelItemCount()):
            if t.topLevelItem(i).data(0, Qt.UserRole).path == path:
                t.setCurrentItem(t.topLevelItem(i))
                return t.topLevelItem(i)
        raise AssertionError(path)

    select(src.resolve())
    assert d.default_button.isEnabled() and d.delete_button.text() == "Remove from library…"
    with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
        qtbot.mouseClick(d.default_button, Qt.LeftButton)
    assert services.settings.default_local_model == os.fspath(src.resolve())
    qtbot.waitUntil(lambda: select(src.resolve()).text(5) == "✔", timeout=WAIT)

    _click_in_message_box("Remove")
    with qtbot.waitSignal(d.modelsChanged, timeout=WAIT):
        qtbot.mouseClick(d.delete_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: all(m.path != src.resolve() for m in d.installed_models()), timeout=WAIT)
    assert src.exists()  # an in-place import: the user's file stays
    assert services.settings.default_local_model == "default"

    # The built-in model cannot be deleted.
    d.installed_tree.setCurrentItem(d.installed_tree.topLevelItem(0))
    assert not d.delete_button.isEnabled()


def test_cancel_asked_from_the_panel_deletes_the_partial(qtbot, dialog, fake_hub, model_file):
    d = dialog
    fake_hub.add_file(REPO, FILE, model_file)
    fake_hub.throttle_bps = 500_000
    search_and_pick(qtbot, d, "tiny", FILE)
    qtbot.mouseClick(d.download_button, Qt.LeftButton)
    row = next(iter(d.rows.values()))
    qtbot.waitUntil(lambda: row.state == DownloadState.DOWNLOADING, timeout=WAIT)
    qtbot.mouseClick(row.cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: row.state == DownloadState.CANCELLED, timeout=WAIT)
    d.manager.wait(row.key, 10)
    assert list(d.manager.downloads_dir.iterdir()) == []
