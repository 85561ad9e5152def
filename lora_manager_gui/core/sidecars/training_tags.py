"""Trigger words suggested from kohya's training metadata (`ss_tag_frequency`, `ss_dataset_dirs`).

The most frequent tag of a character LoRA is usually `1girl` or `solo`: true of nearly every image,
and of nearly every other LoRA. The real trigger is, in this order:
  1. the instance token of a dataset folder (`10_mytrigger` -> `mytrigger`, kohya's
     `<repeats>_<token> <class>` convention), when the captions use it or there are no captions;
  2. a tag in nearly every image of its dataset (>= 90 %) that is not a generic booru tag;
  3. the other specific tags, by frequency; generic tags come last.
Captions written as sentences are counted by word, as A1111's metadata editor does.
"""
from __future__ import annotations

import re
from typing import Any

NEAR_EVERY_IMAGE = 0.9
_REPEATS_PREFIX = re.compile(r"^\d+_(.+)$")

# Booru tags that say what is in a picture, not which LoRA drew it (underscores read as spaces).
GENERIC_TAGS: frozenset[str] = frozenset({
    "1girl", "2girls", "3girls", "multiple girls", "1boy", "2boys", "multiple boys", "1other", "solo", "solo focus",
    "male focus", "female focus", "looking at viewer", "smile", "open mouth", "closed mouth", "blush", "parted lips",
    "simple background", "white background", "grey background", "black background", "transparent background",
    "long hair", "short hair", "medium hair", "very long hair", "bangs", "blunt bangs", "hair between eyes",
    "black hair", "brown hair", "blonde hair", "white hair", "grey hair", "red hair", "blue hair", "pink hair",
    "purple hair", "green hair", "silver hair", "blue eyes", "brown eyes", "red eyes", "green eyes", "purple eyes",
    "yellow eyes", "black eyes", "grey eyes", "breasts", "large breasts", "medium breasts", "small breasts",
    "cleavage", "upper body", "full body", "cowboy shot", "portrait", "close-up", "standing", "sitting",
    "outdoors", "indoors", "day", "night", "sky", "cloud", "tree", "shirt", "dress", "skirt", "jacket",
    "long sleeves", "short sleeves", "gloves", "hat", "jewelry", "earrings", "hair ornament", "holding",
    "monochrome", "greyscale", "realistic", "photorealistic", "masterpiece", "best quality", "high quality",
    "absurdres", "highres", "lowres", "teeth", "tongue", "animal ears", "tail", "weapon", "nsfw", "nude",
    "thighhighs", "navel", "collarbone", "bare shoulders", "sweat", "from side", "from behind", "profile",
    "facing viewer", "signature", "watermark", "text", "english text", "no humans", "scenery", "a photo of",
    "photo", "woman", "man", "girl", "boy", "person",
})


def _plain(tag: str) -> str:
    return " ".join(tag.replace("_", " ").split()).casefold()


def _squash(tag: str) -> str:
    return "".join(ch for ch in tag.casefold() if ch.isalnum())


def _image_counts(dirs: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(dirs, dict):
        for name, info in dirs.items():
            count = info.get("img_count") if isinstance(info, dict) else None
            if isinstance(name, str) and type(count) is int and count > 0:
                out[name] = count
    return out


def _frequencies(freq: Any) -> dict[str, dict[str, int]]:
    """{dataset dir: {tag: count}}, keeping only well-formed entries (the header is untrusted)."""
    out: dict[str, dict[str, int]] = {}
    if not isinstance(freq, dict):
        return out
    for name, tags in freq.items():
        if not isinstance(name, str) or not isinstance(tags, dict):
            continue
        clean: dict[str, int] = {}
        for tag, n in tags.items():
            if isinstance(tag, str) and tag.strip() and isinstance(n, (int, float)) and not isinstance(n, bool) and n == n and 0 < n < 2**63:
                key = tag.strip()
                clean[key] = clean.get(key, 0) + int(n)
        out[name] = clean
    return out


SENTENCE_TAGS = 16  # captions whose "tags" average this many characters are sentences (as A1111 judges)
_WORD = re.compile(r"[-_\w']+")
_STOPWORDS = frozenset({"the", "and", "with", "her", "his", "their", "wearing", "from", "that", "this", "are", "has",
                        "have", "into", "its", "for", "while", "who", "which", "there", "background"})


def _as_words(datasets: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Sentence captions counted by word (of 3 characters or more), as A1111's editor shows them."""
    tags = [t for d in datasets.values() for t in d]
    if not tags or sum(map(len, tags)) / len(tags) < SENTENCE_TAGS:
        return datasets
    out: dict[str, dict[str, int]] = {}
    for name, counts in datasets.items():
        words: dict[str, int] = {}
        for text, n in counts.items():
            for word in dict.fromkeys(w.casefold() for w in _WORD.findall(text)):  # once per caption
                if len(word) >= 3 and word not in _STOPWORDS:
                    words[word] = words.get(word, 0) + n
        out[name] = words
    return out


def rank_training_tags(freq: Any, dirs: Any = None, limit: int = 10) -> list[str]:
    """Up to `limit` suggested triggers, best first (see the module's docstring)."""
    datasets = _as_words(_frequencies(freq))
    images = _image_counts(dirs)
    totals: dict[str, int] = {}
    shown: dict[str, str] = {}  # plain form -> the first spelling seen
    for tags in datasets.values():
        for tag, n in tags.items():
            key = _plain(tag)
            totals[key] = totals.get(key, 0) + n
            shown.setdefault(key, tag)
    by_squash = {_squash(k): k for k in totals}
    first: list[str] = []
    for name in list(datasets) + [d for d in images if d not in datasets]:
        match = _REPEATS_PREFIX.match(name)
        token = " ".join(match.group(1).split()) if match else ""
        if not token:
            continue
        key = by_squash.get(_squash(token)) or (token.casefold() if token.casefold() in totals else None)
        if key is not None and key not in GENERIC_TAGS:
            first.append(key)
        elif not datasets.get(name):  # no captions: the folder's token is what the LoRA learnt
            shown.setdefault(token.casefold(), token)
            first.append(token.casefold())
    coverage: dict[str, float] = {}
    for name, tags in datasets.items():
        most = images.get(name) or max(tags.values(), default=0)
        for tag, n in tags.items():
            if most:
                key = _plain(tag)
                coverage[key] = max(coverage.get(key, 0.0), n / most)
    specific = [k for k in totals if k not in GENERIC_TAGS]
    universal = sorted((k for k in specific if coverage.get(k, 0.0) >= NEAR_EVERY_IMAGE), key=lambda k: (-coverage[k], -totals[k]))
    rest = sorted(specific, key=lambda k: -totals[k])
    generic = sorted((k for k in totals if k in GENERIC_TAGS), key=lambda k: -totals[k])
    out: list[str] = []
    for key in [*first, *universal, *rest, *generic]:
        tag = shown.get(key, key)
        if tag not in out:
            out.append(tag)
            if len(out) >= limit:
                break
    return out
