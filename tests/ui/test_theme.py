"""Light and dark follow the setting even where no platform theme reports a scheme."""
from desktop.ui.theme import apply_theme


def test_dark_and_light_palettes(qapp):
    apply_theme(qapp, "dark")
    assert qapp.palette().window().color().lightness() < 80
    assert qapp.palette().text().color().lightness() > 180
    apply_theme(qapp, "light")
    assert qapp.palette().window().color().lightness() > 180
    apply_theme(qapp, "system")  # offscreen reports no scheme: light
    assert qapp.palette().window().color().lightness() > 180
