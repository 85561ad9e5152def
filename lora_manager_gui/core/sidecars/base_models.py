"""Base-model names as CivitAI spells them ("SD 1.5", "SDXL 1.0", "Flux.1 D", ...), from whatever a
header or another tool wrote ("sd_1.5", "sdxl", "SD15", "flux1", "sd_v1").

CivitAI's list is open-ended (CIVITAI_API.md §9): a value this module does not know is kept as
written (trimmed), never guessed at.
"""
from __future__ import annotations

from functools import lru_cache

# CivitAI's base models (its `baseModels` constant and /api/v1/enums, 2024-2026).
CIVITAI_BASE_MODELS: tuple[str, ...] = (
    "SD 1.4", "SD 1.5", "SD 1.5 LCM", "SD 1.5 Hyper", "SD 2.0", "SD 2.0 768", "SD 2.1", "SD 2.1 768",
    "SD 2.1 Unclip", "SDXL 0.9", "SDXL 1.0", "SDXL 1.0 LCM", "SDXL Distilled", "SDXL Turbo", "SDXL Lightning",
    "SDXL Hyper", "SD 3", "SD 3.5", "SD 3.5 Medium", "SD 3.5 Large", "SD 3.5 Large Turbo", "Pony", "Pony V7",
    "Illustrious", "NoobAI", "Flux.1 S", "Flux.1 D", "Flux.1 Krea", "Flux.1 Kontext", "Flux.2 D", "AuraFlow",
    "Stable Cascade", "SVD", "SVD XT", "Playground v2", "PixArt a", "PixArt E", "Hunyuan 1", "Hunyuan Video",
    "HunyuanImage", "Lumina", "Kolors", "Mochi", "LTXV", "CogVideoX", "HiDream", "Chroma", "Qwen", "Wan Video",
    "Wan Video 1.3B t2v", "Wan Video 14B t2v", "Wan Video 14B i2v 480p", "Wan Video 14B i2v 720p",
    "Wan Video 2.2 TI2V-5B", "Wan Video 2.2 I2V-A14B", "Wan Video 2.2 T2V-A14B", "Wan Video 2.5 T2V",
    "Wan Video 2.5 I2V", "ODOR", "Other",
)

# Other spellings (by their key, see _key) of a CivitAI name.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("sd1", "sd15", "sdv1", "sdv15", "sd1x", "sd1.x", "sd1.5base", "stablediffusion1.5",
                     "stablediffusionv1", "sdv1v"), "SD 1.5"),
    **dict.fromkeys(("sd14", "sdv14"), "SD 1.4"),
    **dict.fromkeys(("sd20",), "SD 2.0"),
    **dict.fromkeys(("sd2", "sd21", "sdv2", "sdv21", "sd2x", "sd2.x", "stablediffusionv2"), "SD 2.1"),
    **dict.fromkeys(("sdv2v", "sd21768"), "SD 2.1 768"),
    **dict.fromkeys(("sdxl", "sdxl1", "sdxl10", "sdxlbase", "sdxlbasev1.0", "sdxlbasev10", "sdxl1.0base",
                     "stablediffusionxl", "stablediffusionxlv1base", "xl"), "SDXL 1.0"),
    **dict.fromkeys(("sd3", "sdv3", "stablediffusionv3", "stablediffusion3", "sd3medium", "stablediffusionv3medium"), "SD 3"),
    **dict.fromkeys(("sd35", "sdv35", "stablediffusion3.5"), "SD 3.5"),
    **dict.fromkeys(("sd35medium", "sd3.5m"), "SD 3.5 Medium"),
    **dict.fromkeys(("sd35large", "sd3.5l"), "SD 3.5 Large"),
    **dict.fromkeys(("pony", "ponyxl", "ponydiffusion", "ponydiffusionv6", "ponydiffusionv6xl", "ponyv6"), "Pony"),
    **dict.fromkeys(("illustrious", "illustriousxl", "il", "ilxl"), "Illustrious"),
    **dict.fromkeys(("noobai", "noobaixl", "noob"), "NoobAI"),
    **dict.fromkeys(("flux", "flux1", "flux.1", "flux1d", "flux1dev", "flux.1dev", "fluxdev", "flux.1d"), "Flux.1 D"),
    **dict.fromkeys(("flux1s", "flux1schnell", "flux.1schnell", "fluxschnell", "flux.1s"), "Flux.1 S"),
    **dict.fromkeys(("flux1krea", "flux1kreadev", "flux.1kreadev"), "Flux.1 Krea"),
    **dict.fromkeys(("flux1kontext", "flux1kontextdev", "flux.1kontextdev"), "Flux.1 Kontext"),
    **dict.fromkeys(("flux2", "flux.2", "flux2dev", "flux.2dev"), "Flux.2 D"),
    **dict.fromkeys(("auraflow",), "AuraFlow"),
    **dict.fromkeys(("chroma", "chroma1"), "Chroma"),
    **dict.fromkeys(("lumina", "lumina2", "lumina2.0", "luminaimage2.0"), "Lumina"),
    **dict.fromkeys(("hidream", "hidreami1"), "HiDream"),
    **dict.fromkeys(("qwen", "qwenimage"), "Qwen"),
    **dict.fromkeys(("wan", "wanvideo", "wan2.1", "wan21"), "Wan Video"),
    **dict.fromkeys(("hunyuanvideo",), "Hunyuan Video"),
    **dict.fromkeys(("hunyuanimage", "hunyuanimage2.1"), "HunyuanImage"),
    **dict.fromkeys(("stablecascade",), "Stable Cascade"),
    **dict.fromkeys(("playgroundv2", "playground2"), "Playground v2"),
    **dict.fromkeys(("kolors",), "Kolors"),
}
_DROP = str.maketrans("", "", " _-")


def _key(value: str) -> str:
    return value.casefold().translate(_DROP)


_BY_KEY: dict[str, str] = {**_ALIASES, **{_key(name): name for name in CIVITAI_BASE_MODELS}}
_NOT_A_BASE_MODEL = frozenset({"", "none", "null", "unknown"})


@lru_cache(maxsize=4096)
def normalize_base_model(value: str | None) -> str | None:
    """CivitAI's name for `value`; an unknown name trimmed; None for nothing, "None", "Unknown"."""
    if value is None or not isinstance(value, str):
        return None
    text = " ".join(value.split())
    key = _key(text)
    if key in _NOT_A_BASE_MODEL:
        return None
    found = _BY_KEY.get(key)
    if found is None and key.endswith("/lora"):  # a modelspec.architecture value
        found = _BY_KEY.get(key[: -len("/lora")])
    return found or text
