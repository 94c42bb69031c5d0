"""Review probe of the library dialog: a catalog model's row (collapsed) says which file is
recommended, how large it is and whether it fits, not just a star."""
from __future__ import annotations

from test_library_dialog import WAIT, dialog  # noqa: F401 - fixture


def test_catalog_model_rows_show_the_recommended_files_quant_size_and_fit(qtbot, dialog):
    t = dialog.catalog_tree
    qtbot.waitUntil(lambda: t.topLevelItemCount() > 0, timeout=WAIT)
    for i in range(t.topLevelItemCount()):
        top = t.topLevelItem(i)
        assert top.text(1), f"no quant on {top.text(0)}"
        assert top.text(2) and top.text(2)[-2:] in ("GB", "MB"), f"no size on {top.text(0)}: {top.text(2)!r}"
        rec = next((top.child(k) for k in range(top.childCount()) if "recommended" in top.child(k).text(3)), None)
        if rec is not None:
            assert top.text(1) == rec.text(1) and top.text(2) == rec.text(2)
            assert any(mark in top.text(3) for mark in ("GPU", "RAM")), top.text(3)
