"""Review probes of the installed-models list: symlinks in the models folder, a file
deleted behind the app's back."""
from __future__ import annotations

import os

import pytest

from desktop.core.library import installed as lib
from fakehub import make_gguf
@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_deleting_a_symlinked_model_removes_the_link_and_keeps_the_target(services, tmp_path):
    target = make_gguf(tmp_path / "elsewhere" / "Linked-Q4_K_M.gguf")
    link = services.folders.models / "mine" / "Linked-Q4_K_M.gguf"
    link.parent.mkdir(parents=True)
    os.symlink(target, link)
    [m] = [x for x in lib.list_installed(services) if x.name == "Linked-Q4_K_M"]
    assert m.available
    lib.delete(services, m)
    # The user's own file is untouched, and the model does not come back on the next listing.
    assert target.exists()
    assert not os.path.lexists(link)
    assert [x for x in lib.list_installed(services) if x.name == "Linked-Q4_K_M"] == []


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_disk_use_does_not_count_files_linked_from_elsewhere(services, tmp_path):
    target = make_gguf(tmp_path / "elsewhere" / "Linked-Q4_K_M.gguf")
    before, _ = lib.disk_usage(services)
    os.symlink(target, services.folders.models / "Linked-Q4_K_M.gguf")
    after, _ = lib.disk_usage(services)
    assert after == before


def test_a_model_deleted_behind_the_apps_back_is_gone_from_the_list(services, tmp_path):
    dest = make_gguf(services.folders.models / "x" / "Gone-Q4_K_M.gguf")
    [m] = [x for x in lib.list_installed(services) if x.name == "Gone-Q4_K_M"]
    dest.unlink()
    assert [x for x in lib.list_installed(services) if x.name == "Gone-Q4_K_M"] == []
    assert lib.find(services, m.choice.model) is None
    lib.delete(services, m)  # deleting the stale entry from an open dialog does not fail
