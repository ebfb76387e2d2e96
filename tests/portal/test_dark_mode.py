"""Dark mode (prefers-color-scheme) and card tables under 600 px live in portal.css; the dark
palette keeps every text colour at >= 4.5:1 on the backgrounds it is used on (WCAG AA)."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "portal.css").read_text()


def dark_palette() -> dict:
    block = CSS[CSS.index("@media (prefers-color-scheme: dark)") :]
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", block))


def luminance(hex_colour: str) -> float:
    def channel(c):
        c = int(c, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(hex_colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize(
    "text, background",
    [
        ("fg", "bg"), ("fg", "card"), ("muted", "bg"), ("muted", "card"), ("accent", "card"),
        ("accent", "bg"), ("danger", "card"), ("warn", "card"), ("ok", "card"),
        ("accent-fg", "accent"), ("accent-fg", "danger"),
    ],
)  # fmt: skip
def test_dark_palette_keeps_text_readable(text, background):
    palette = dark_palette()
    assert contrast(palette[text], palette[background]) >= 4.5


def test_tables_with_labelled_cells_become_cards_under_600px():
    block = CSS[CSS.index("@media (max-width: 600px)") :]
    assert "td[data-label]::before { content: attr(data-label)" in block
