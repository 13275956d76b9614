"""The tiny Hugging Face model (`kitt models tiny --format safetensors`), checked as files on disk: the
format preflight both ways, the safetensors layout, the tokenizer's vocabulary. That vLLM serves it is
tests/test_vllm.py's (slow tier, the real server)."""

import itertools
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from kitt.engines import formats, preflight
from kitt.models import tiny_hf
from kitt.models.tiny import _WORDS
from tests.test_cli import kitt


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory) -> Path:
    return tiny_hf.write(tmp_path_factory.mktemp("tiny") / "kitt-tiny-hf")


def test_the_preflight_accepts_it_for_vllm_and_refuses_it_for_llama_cpp(hf_model):
    assert formats.detect(hf_model) == "safetensors"
    assert preflight.check("vllm", str(hf_model), "native", arch="x86_64").model_format == "safetensors"
    with pytest.raises(preflight.PreflightError, match=r"llama\.cpp cannot serve a safetensors model"):
        preflight.check("llama_cpp", str(hf_model), "native", arch="x86_64")


def test_the_cli_writes_each_format_and_vllm_refuses_the_gguf(tmp_path):
    home = tmp_path / "home"
    wrote = kitt(home, "models", "tiny", "--format", "safetensors", str(tmp_path / "hf")).stdout
    assert "safetensors" in wrote and (tmp_path / "hf" / "model.safetensors").is_file()
    gguf = tmp_path / "m.gguf"
    assert "gguf" in kitt(home, "models", "tiny", str(gguf)).stdout
    refused = kitt(home, "engines", "check", "vllm", "-m", str(gguf), check=False)
    assert refused.returncode == 1 and "vLLM cannot serve a gguf model" in refused.stderr
    accepted = kitt(home, "engines", "check", "vllm", "-m", str(tmp_path / "hf"), "--runtime", "external")
    assert "vLLM can serve" in accepted.stdout


def test_the_safetensors_file_is_laid_out_as_the_format_says(hf_model):
    raw = (hf_model / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    assert (8 + size) % 8 == 0 and header.pop("__metadata__") == {"format": "pt"}
    config = json.loads((hf_model / "config.json").read_text())
    spans = sorted(tuple(t["data_offsets"]) for t in header.values())
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert spans[-1][1] == len(raw) - 8 - size
    for name, tensor in header.items():
        assert tensor["dtype"] == "BF16"
        begin, end = tensor["data_offsets"]
        assert end - begin == 2 * int(np.prod(tensor["shape"])), name
    assert header["lm_head.weight"]["shape"] == [config["vocab_size"], config["hidden_size"]]
    assert config["hidden_size"] // config["num_attention_heads"] == 32  # a head size vLLM's CPU build takes
    norm = header["model.norm.weight"]["data_offsets"][0] + 8 + size
    assert raw[norm : norm + 2] == b"\x80\x3f"  # 1.0 in bfloat16, little-endian


def test_the_tokenizer_is_a_consistent_byte_level_bpe(hf_model):
    tokenizer = json.loads((hf_model / "tokenizer.json").read_text())
    vocab, merges = tokenizer["model"]["vocab"], tokenizer["model"]["merges"]
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert len(set(tiny_hf._byte_chars())) == 256 and all(c in vocab for c in tiny_hf._byte_chars())
    assert all(a in vocab and b in vocab and a + b in vocab for a, b in merges)
    assert all("\u0120" + word in vocab for word in _WORDS)
    config = json.loads((hf_model / "config.json").read_text())
    assert config["vocab_size"] == len(vocab)
    assert [vocab[t] for t in tiny_hf.SPECIAL] == [config["bos_token_id"], config["eos_token_id"]]
    template = json.loads((hf_model / "tokenizer_config.json").read_text())["chat_template"]
    assert "add_generation_prompt" in template
