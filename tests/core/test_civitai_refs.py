"""Every form a user pastes, and hostile ones."""
from __future__ import annotations

import pytest

from lora_manager_gui.core.civitai_refs import CivitaiRef, CivitaiRefError, RefKind, parse_civitai_ref


@pytest.mark.parametrize("text, expected", [
    ("https://civitai.com/models/123", CivitaiRef(RefKind.MODEL_PAGE, model_id=123)),
    ("https://civitai.com/models/123/inkwash-style-xl", CivitaiRef(RefKind.MODEL_PAGE, model_id=123)),
    ("https://civitai.com/models/123/inkwash?modelVersionId=456", CivitaiRef(RefKind.MODEL_PAGE, 123, 456)),
    ("https://www.civitai.com/models/123?modelVersionId=456&utm=x", CivitaiRef(RefKind.MODEL_PAGE, 123, 456)),
    ("http://civitai.red/models/9", CivitaiRef(RefKind.MODEL_PAGE, model_id=9)),
    ("  civitai.com/models/5  ".strip().replace("civitai.com", "https://civitai.com"), CivitaiRef(RefKind.MODEL_PAGE, model_id=5)),
    ("//civitai.com/models/5", CivitaiRef(RefKind.MODEL_PAGE, model_id=5)),
    ("/models/123", CivitaiRef(RefKind.MODEL_PAGE, model_id=123)),
    ("models/123?modelVersionId=7", CivitaiRef(RefKind.MODEL_PAGE, 123, 7)),
    ("456", CivitaiRef(RefKind.VERSION_ID, version_id=456)),
    (" 456\n", CivitaiRef(RefKind.VERSION_ID, version_id=456)),
    ("https://civitai.com/api/download/models/456", CivitaiRef(RefKind.DOWNLOAD_URL, version_id=456)),
    ("https://civitai.com/api/download/models/456?type=Model&format=SafeTensor&size=pruned&fp=fp16",
     CivitaiRef(RefKind.DOWNLOAD_URL, version_id=456, file_type="Model", file_format="SafeTensor", file_size="pruned", file_fp="fp16")),
    ("https://civitai.com/api/download/models/456?type=Pruned%20Model", CivitaiRef(RefKind.DOWNLOAD_URL, version_id=456, file_type="Pruned Model")),
    ("/api/download/models/456", CivitaiRef(RefKind.DOWNLOAD_URL, version_id=456)),
    ("https://civitai.com/api/v1/model-versions/456", CivitaiRef(RefKind.API_URL, version_id=456)),
    ("https://civitai.com/api/v1/models/123", CivitaiRef(RefKind.API_URL, model_id=123)),
    ("urn:air:sdxl:lora:civitai:1187354@1336201", CivitaiRef(RefKind.AIR, 1187354, 1336201)),
    ("URN:AIR:flux1:lora:civitai:12", CivitaiRef(RefKind.AIR, model_id=12)),
    ("urn:air:sd1:checkpoint:civitai:4201@130072.safetensors", CivitaiRef(RefKind.AIR, 4201, 130072)),
])
def test_every_form(text: str, expected: CivitaiRef) -> None:
    assert parse_civitai_ref(text) == expected


@pytest.mark.parametrize("text", [
    "", "   ", "0", "-5", "2147483648", "99999999999", "12a", "١٢٣", "１２３",
    "https://evil.com/models/1", "https://civitai.com.evil.com/models/1", "https://evilcivitai.com/models/1",
    "https://civitai.com@evil.com/models/1", "https://user:pw@civitai.com/models/1",
    "https://civitai.com:8443/models/1", "javascript:alert(1)", "file:///etc/passwd", "ftp://civitai.com/models/1",
    "https://civitai.com/models/", "https://civitai.com/models/abc", "https://civitai.com/models/0",
    "https://civitai.com/models/1?modelVersionId=abc", "https://civitai.com/models/1?modelVersionId=1&modelVersionId=2",
    "https://civitai.com/user/someone", "https://civitai.com/api/download/models/../../etc",
    "https://civitai.com/api/download/models/1?type=<script>", "https://civitai.com/models/%31",
    "/models/../1", "urn:air:sdxl:lora:huggingface:1@2", "urn:air:sdxl:lora:civitai:1@", "urn:air:civitai:1",
    "urn:air:sdxl:lora:civitai:1@2;rm -rf", "https://civitai.com/models/1\x00", "https://civitai.com/models/1 2",
    "x" * 5000, "https://civitai.com/models/" + "9" * 4000, "https://[::1/models/1",
])
def test_hostile_or_wrong_input_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(CivitaiRefError) as info:
        parse_civitai_ref(text)
    assert str(info.value)


def test_not_text_is_refused() -> None:
    with pytest.raises(CivitaiRefError):
        parse_civitai_ref(123)  # type: ignore[arg-type]
