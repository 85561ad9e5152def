"""Draw the app icon (deterministic: the same bytes each run) into resources/icons.

A rounded square with three stacked, offset cards (a LoRA stack) in the app's colours.
Writes `lora-manager.png` (256 px, the window icon) and `lora-manager.ico` (16-256 px, the build).

    python scripts/make_icon.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZE = 1024  # drawn large, scaled down with a good filter
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
BACKGROUND = (32, 38, 56, 255)
CARDS = ((64, 156, 255, 255), (132, 94, 247, 255), (255, 128, 96, 255))


def draw_icon() -> Image.Image:
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((32, 32, SIZE - 32, SIZE - 32), radius=200, fill=BACKGROUND)
    card_w, card_h, step = 520, 340, 130
    left, top = 170, 190
    for i, colour in enumerate(CARDS):
        x, y = left + i * step // 2, top + i * step
        draw.rounded_rectangle((x, y, x + card_w, y + card_h), radius=60, fill=colour,
                               outline=BACKGROUND, width=24)
    return image


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    icon = draw_icon()
    png = icon.resize((256, 256), Image.Resampling.LANCZOS)
    png.save(out / "lora-manager.png", optimize=True)
    icon.save(out / "lora-manager.ico", sizes=ICO_SIZES)
    print(out / "lora-manager.png")
    print(out / "lora-manager.ico")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
