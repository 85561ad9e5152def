"""Make the demo library shipped in resources/demo (deterministic: same bytes each run).

`library/` is the folder the app imports; `stacks/` holds files to drop on the window.
Twelve real, tiny safetensors files (valid headers with kohya-like __metadata__ and a few small
tensors), the sidecars the importer reads (CivitAI model JSON, .api_info.json, .civitai.info,
A1111 .json, Lora Manager .metadata.json), two orphans with no sidecar, small preview PNGs, and two
stacks to drop on the window (a ComfyUI API prompt and an A1111 PNG). All names are made up.

    python scripts/make_demo_library.py [OUT_DIR]
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

OUT = Path(__file__).resolve().parent.parent / "resources" / "demo"
CREATED = "2025-06-14T10:00:00.000Z"


@dataclass(frozen=True)
class DemoLora:
    folder: str
    stem: str
    name: str
    version: str
    creator: str
    base: str  # CivitAI base model
    kohya_base: str  # ss_base_model_version
    sidecar: str  # model_json | api_info | civitai_info | a1111 | lora_manager | none
    words: tuple[str, ...]
    tags: tuple[str, ...]
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    motif: str
    nsfw: int = 1
    description: str = ""


LORAS: tuple[DemoLora, ...] = (
    DemoLora("sdxl", "watercolor-wash", "Watercolor Wash", "v2.0", "aquarelle", "SDXL 1.0", "sdxl_base_v1-0",
             "model_json", ("watercolor", "wet on wet"), ("style", "watercolor", "painting"),
             ((70, 130, 180), (250, 235, 215)), "blobs",
             description="<p>Soft <b>watercolor</b> washes with paper texture.</p><ul><li>Weight 0.6–0.9</li>"
                         "<li>Pairs well with <i>Ink Sketch</i></li></ul>"),
    DemoLora("sdxl", "neon-noir-city", "Neon Noir City", "v1.3", "nightshift", "SDXL 1.0", "sdxl_base_v1-0",
             "civitai_info", ("neon noir", "rainy street"), ("style", "cyberpunk", "city"),
             ((20, 10, 60), (255, 40, 160)), "stripes",
             description="<p>Rain-soaked streets lit by neon signs.</p>"),
    DemoLora("sd15", "pixel-pals", "Pixel Pals", "v1.1", "bitsmith", "SD 1.5", "sd_v1",
             "civitai_info", ("pixel art", "8bit sprite"), ("style", "pixel art", "game"),
             ((40, 160, 90), (250, 220, 90)), "pixels"),
    DemoLora("sd15", "ink-sketch", "Ink Sketch", "v3", "penandpaper", "SD 1.5", "sd_v1",
             "a1111", ("ink sketch",), ("style", "lineart"),
             ((245, 245, 240), (40, 40, 50)), "lines"),
    DemoLora("flux", "cinematic-film-grain", "Cinematic Film Grain", "v1.0", "celluloid", "Flux.1 D", "flux-1-dev",
             "lora_manager", ("film grain", "kodak portra"), ("photo", "film", "grain"),
             ((120, 80, 40), (250, 200, 140)), "grain"),
    DemoLora("sdxl", "paper-cutout", "Paper Cutout", "v1.0", "scissorhands", "SDXL 1.0", "sdxl_base_v1-0",
             "api_info", ("paper cutout", "layered paper"), ("style", "papercraft"),
             ((250, 120, 80), (255, 240, 200)), "layers"),
    DemoLora("sdxl", "retro-anime-90s", "Retro Anime 90s", "v4.2", "cel_shade", "Illustrious", "sdxl_base_v1-0",
             "civitai_info", ("90s anime", "cel shading"), ("anime", "retro", "style"),
             ((255, 150, 180), (120, 90, 200)), "sun", nsfw=2),
    DemoLora("wan", "wan-motion-smooth", "Wan Motion Smooth", "v2.0 t2v", "framebyframe", "Wan Video 14B t2v",
             "wan2.1-t2v-14b", "lora_manager", ("smooth motion",), ("video", "motion", "wan video"),
             ((30, 60, 90), (120, 220, 230)), "waves"),
    DemoLora("flux", "clay-figures", "Clay Figures", "v1.5", "claymate", "Flux.1 D", "flux-1-dev",
             "model_json", ("claymation", "plasticine"), ("style", "3d", "clay"),
             ((230, 120, 60), (250, 210, 120)), "blobs"),
    DemoLora("sd15", "stained-glass", "Stained Glass", "v1.0", "cathedral", "SD 1.5", "sd_v1",
             "a1111", ("stained glass",), ("style", "glass"),
             ((20, 40, 120), (240, 190, 40)), "mosaic"),
    DemoLora("unsorted", "mystery_style_v3", "mystery_style_v3", "", "", "SDXL 1.0", "sdxl_base_v1-0",
             "none", ("mystyle",), (), ((0, 0, 0), (0, 0, 0)), ""),
    DemoLora("unsorted", "untitled_lora_e12", "untitled_lora_e12", "", "", "SD 1.5", "sd_v1",
             "none", ("ohwx person",), (), ((0, 0, 0), (0, 0, 0)), ""),
)


def _seed(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def safetensors_bytes(lora: DemoLora) -> bytes:
    """A valid LoRA-shaped safetensors file: 3 small F16 tensors and kohya-like metadata."""
    rank, width = 4, 32
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": ("F16", [], 2),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ("F16", [rank, width], rank * width * 2),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": ("F16", [width, rank], width * rank * 2),
    }
    tag_frequency = {f"10_{lora.stem}": {w: 40 - 7 * i for i, w in enumerate(lora.words)}}
    metadata = {
        "ss_output_name": lora.stem,
        "ss_base_model_version": lora.kohya_base,
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(rank / 2),
        "ss_num_epochs": "12",
        "ss_resolution": "(1024, 1024)" if lora.kohya_base.startswith("sdxl") else "(512, 512)",
        "ss_tag_frequency": json.dumps(tag_frequency),
        "ss_training_comment": "LoRA Manager demo library: a tiny stand-in, not a usable LoRA",
        "modelspec.title": lora.name if lora.sidecar != "none" else "",
        "modelspec.architecture": {"SDXL 1.0": "stable-diffusion-xl-v1-base/lora", "SD 1.5": "stable-diffusion-v1/lora",
                                   "Flux.1 D": "flux-1-dev/lora", "Illustrious": "stable-diffusion-xl-v1-base/lora"}
        .get(lora.base, "wan-2.1-t2v-14b/lora"),
    }
    metadata = {k: v for k, v in metadata.items() if v}
    header: dict[str, object] = {"__metadata__": metadata}
    data = bytearray()
    for name, (dtype, shape, size) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        chunk = b""
        counter = 0
        while len(chunk) < size:
            chunk += _seed(f"{lora.stem}/{name}/{counter}")
            counter += 1
        # keep every F16 finite: clear the exponent's top bit of each value
        values = bytearray(chunk[:size])
        for i in range(1, size, 2):
            values[i] &= 0x3B
        data += values
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def preview_png(lora: DemoLora, path: Path) -> None:
    w, h = 192, 240
    top, bottom = lora.colors
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / (h - 1)
        draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    seed = _seed(lora.stem)
    accent = tuple(255 - c for c in top)
    if lora.motif == "blobs":
        for i in range(7):
            x, y, r = seed[i] % w, seed[i + 8] % h, 18 + seed[i + 16] % 40
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple((c + 60 * i) % 256 for c in bottom))
    elif lora.motif == "stripes":
        for i in range(0, w + h, 22):
            draw.line([(i, 0), (i - h, h)], fill=(255, 60 + i % 150, 200), width=3)
        draw.rectangle([30, 120, 70, 240], fill=(10, 10, 30))
        draw.rectangle([100, 90, 150, 240], fill=(15, 5, 40))
    elif lora.motif == "pixels":
        for i in range(0, w, 16):
            for j in range(0, h, 16):
                if seed[(i // 16 + j // 16 * 3) % 32] % 3 == 0:
                    draw.rectangle([i, j, i + 15, j + 15], fill=accent)
    elif lora.motif == "lines":
        for i in range(14):
            y = 20 + i * 15
            draw.arc([10, y - 40, w - 10, y + 40], 200, 340, fill=(30, 30, 40), width=2)
    elif lora.motif == "grain":
        for i in range(0, 4000):
            b = _seed(f"g{i}")
            img.putpixel((b[0] % w, (b[1] * 256 + b[2]) % h), (b[3], b[3], b[3]))
    elif lora.motif == "layers":
        for i in range(5):
            y = 80 + i * 32
            draw.polygon([(0, y), (w // 2, y - 40 + i * 6), (w, y), (w, h), (0, h)],
                         fill=tuple(max(0, c - 30 * i) for c in top))
    elif lora.motif == "sun":
        draw.ellipse([46, 50, 146, 150], fill=(255, 230, 120))
        for i in range(6):
            draw.rectangle([0, 120 + i * 14, w, 124 + i * 14], fill=bottom)
    elif lora.motif == "waves":
        for k in range(6):
            pts = [(x, 120 + 20 * k - 60 + 18 * math.sin(x / 18 + k)) for x in range(0, w + 1, 4)]
            draw.line(pts, fill=(200, 250, 255), width=3)
    elif lora.motif == "mosaic":
        for i in range(0, w, 24):
            for j in range(0, h, 30):
                c = seed[(i + j) % 32]
                draw.polygon([(i, j), (i + 24, j + 4), (i + 20, j + 30), (i + 2, j + 26)],
                             fill=((c * 3) % 256, (c * 7) % 256, (c * 11) % 256), outline=(20, 20, 20))
    img = img.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img.save(path, optimize=True)


def civitai_version(lora: DemoLora, index: int, sha256: str, size: int, with_model_fields: bool) -> dict:
    version = {
        "id": 900100 + index, "modelId": 800100 + index, "name": lora.version,
        "createdAt": CREATED, "updatedAt": CREATED, "publishedAt": CREATED, "status": "Published",
        "trainedWords": list(lora.words), "baseModel": lora.base, "baseModelType": "Standard",
        "description": f"<p>{lora.version}: demo release.</p>",
        "stats": {"downloadCount": 1200 * (index + 3), "ratingCount": 10 + index, "rating": 4.8,
                  "thumbsUpCount": 150 * (index + 2)},
        "files": [{"id": 700100 + index, "sizeKB": size / 1024, "name": f"{lora.stem}.safetensors", "type": "Model",
                   "primary": True, "metadata": {"format": "SafeTensor", "size": None, "fp": "fp16"},
                   "hashes": {"AutoV2": sha256[:10].upper(), "SHA256": sha256.upper()},
                   "downloadUrl": f"https://civitai.com/api/download/models/{900100 + index}"}],
        "images": [],
    }
    if with_model_fields:
        version["model"] = {"name": lora.name, "type": "LORA", "nsfw": lora.nsfw > 1, "poi": False}
    return version


def sidecars(lora: DemoLora, index: int, sha256: str, size: int) -> dict[str, object]:
    version = civitai_version(lora, index, sha256, size, with_model_fields=True)
    if lora.sidecar == "civitai_info":
        version["model"]["description"] = lora.description or f"<p>{lora.name}, a demo LoRA.</p>"  # type: ignore[index]
        version["model"]["tags"] = list(lora.tags)  # type: ignore[index]
        version["creator"] = {"username": lora.creator}
        return {f"{lora.stem}.civitai.info": version}
    if lora.sidecar in ("model_json", "api_info"):
        model = {
            "id": 800100 + index, "name": lora.name, "type": "LORA", "nsfw": lora.nsfw > 1, "nsfwLevel": lora.nsfw,
            "description": lora.description or f"<p>{lora.name}, a demo LoRA.</p>",
            "tags": list(lora.tags), "creator": {"username": lora.creator, "image": None},
            "stats": {"downloadCount": 5000 + 100 * index, "thumbsUpCount": 400 + index},
            "modelVersions": [civitai_version(lora, index, sha256, size, with_model_fields=False)],
        }
        suffix = ".api_info.json" if lora.sidecar == "api_info" else ".json"
        return {f"{lora.stem}{suffix}": model}
    if lora.sidecar == "a1111":
        return {f"{lora.stem}.json": {
            "description": f"{lora.name}: pen-and-paper look. Demo library.", "sd version": "SD1",
            "activation text": ", ".join(lora.words), "preferred weight": 0.8, "notes": "demo",
            "negative text": "color"}}
    if lora.sidecar == "lora_manager":
        return {f"{lora.stem}.metadata.json": {
            "file_name": lora.stem, "model_name": lora.name, "file_path": f"{lora.folder}/{lora.stem}.safetensors",
            "size": size, "modified": 1749895200.0, "sha256": sha256, "base_model": lora.base,
            "preview_url": "", "preview_nsfw_level": lora.nsfw, "notes": "", "from_civitai": True,
            "civitai": civitai_version(lora, index, sha256, size, with_model_fields=True) | {"creator": {"username": lora.creator}},
            "tags": list(lora.tags), "modelDescription": lora.description or f"<p>{lora.name}, a demo LoRA.</p>",
            "civitai_deleted": False, "favorite": index % 2 == 0, "exclude": False, "db_checked": False,
            "metadata_source": "civitai_api", "last_checked_at": 1749895200.0, "hash_status": "completed",
            "trainedWords": list(lora.words), "usage_tips": "{\"strength\": 0.8}"}}
    return {}


def stacks(out: Path) -> None:
    folder = out / "stacks"
    folder.mkdir()
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "sdxl/watercolor-wash.safetensors",
                                                      "strength_model": 0.8, "strength_clip": 0.8}},
        "11": {"class_type": "LoraLoader", "inputs": {"model": ["10", 0], "clip": ["10", 1], "lora_name": "sdxl/neon-noir-city.safetensors",
                                                      "strength_model": 0.55, "strength_clip": 0.5}},
        "12": {"class_type": "LoraLoader", "inputs": {"model": ["11", 0], "clip": ["11", 1], "lora_name": "sdxl/lost-and-not-found.safetensors",
                                                      "strength_model": 0.3, "strength_clip": 0.3}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["12", 1], "text": "watercolor, neon noir, rainy street"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["12", 1], "text": "blurry"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"model": ["12", 0], "positive": ["6", 0], "negative": ["7", 0],
                                                   "latent_image": ["5", 0], "seed": 42, "steps": 28, "cfg": 6.5,
                                                   "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "demo"}},
    }
    (folder / "watercolor_noir_prompt.json").write_text(json.dumps(prompt, indent=2) + "\n", "utf-8")
    info = PngInfo()
    info.add_text("parameters", "pixel art, 8bit sprite, a knight in a forest <lora:pixel-pals:0.9> "
                  "<lora:stained-glass:0.4>\nNegative prompt: blurry\nSteps: 24, Sampler: Euler a, CFG scale: 7, "
                  "Seed: 7, Size: 512x512, Model: v1-5-pruned-emaonly")
    img = Image.new("RGB", (64, 64), (40, 160, 90))
    img.save(folder / "pixel_knight_a1111.png", pnginfo=info, optimize=True)


def make(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for index, lora in enumerate(LORAS):
        folder = out / "library" / lora.folder
        folder.mkdir(parents=True, exist_ok=True)
        data = safetensors_bytes(lora)
        (folder / f"{lora.stem}.safetensors").write_bytes(data)
        sha256 = hashlib.sha256(data).hexdigest()
        for name, content in sidecars(lora, index, sha256, len(data)).items():
            (folder / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")
        if lora.motif:
            preview_png(lora, folder / f"{lora.stem}.preview.png")
    stacks(out)
    (out / "README.txt").write_text(
        "LoRA Manager demo library. Made by scripts/make_demo_library.py; every name is invented and the\n"
        "safetensors files are tiny stand-ins with real headers, not usable LoRAs.\n", "utf-8")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    make(target)
    total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {sum(1 for p in target.rglob('*') if p.is_file())} files, {total / 1024:.0f} KB, to {target}")
