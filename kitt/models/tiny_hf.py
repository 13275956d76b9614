"""A tiny Hugging Face Llama with random weights, for vLLM (and any engine that loads safetensors).

The counterpart of `kitt.models.tiny`'s GGUF: a folder with `config.json`, bf16 `model.safetensors`, a
byte-level BPE `tokenizer.json` and a chat template, about 0.5 MB, written with numpy alone (no torch,
transformers or tokenizers in KITT's own environment). Two heads of 32: vLLM's CPU attention accepts head
sizes 32, 64, 80, …, not 16. 8,192 positions, so lm-eval's few-shot prompts fit; the KV cache of a model
this small stays tiny. Its output is noise; only the serving path is real.
"""

import json
import struct
from pathlib import Path

import numpy as np

from kitt.models.tiny import _WORDS

HIDDEN = 64
LAYERS = 2
HEADS = 2
INTERMEDIATE = 128
CONTEXT = 8192
SPECIAL = ("<|bos|>", "<|eos|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|eos|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-unicode table, the ByteLevel pre-tokenizer's alphabet: each byte a printable char."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return [chr(chars[b]) for b in range(256)]


def _vocabulary() -> tuple[dict[str, int], list[list[str]]]:
    """Bytes, then every prefix of " word" for the common words: merges grow a word one byte at a time, so
    a common word is one token and anything else falls back to bytes."""
    vocab: dict[str, int] = {token: i for i, token in enumerate(SPECIAL)}
    for char in _byte_chars():
        vocab[char] = len(vocab)
    merges: list[list[str]] = []
    for word in _WORDS:
        full = "\u0120" + word  # Ġ: the byte-level form of a leading space
        for k in range(2, len(full) + 1):
            if full[:k] not in vocab:
                vocab[full[:k]] = len(vocab)
                merges.append([full[: k - 1], full[k - 1]])
    return vocab, merges


def _tokenizer(vocab: dict[str, int], merges: list[list[str]]) -> dict[str, object]:
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    added = [
        {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False}
        | {"normalized": False, "special": True}
        for t in SPECIAL
    ]
    model: dict[str, object] = {"type": "BPE", "dropout": None, "unk_token": None}
    model |= {"continuing_subword_prefix": None, "end_of_word_suffix": None}
    model |= {"fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": None,
        "decoder": byte_level,
        "model": model | {"vocab": vocab, "merges": merges},
    }


def _bf16(values: np.ndarray) -> bytes:
    """float32 → bfloat16 bytes, rounded to nearest even (numpy has no bf16 type)."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2").tobytes()


def _safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        blob = _bf16(array)
        span = [offset, offset + len(blob)]
        header[name] = {"dtype": "BF16", "shape": list(array.shape), "data_offsets": span}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the data begins 8-byte aligned
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)


def _weights(vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float = 0.02) -> np.ndarray:
        return rng.standard_normal(shape) * scale

    tensors = {"model.embed_tokens.weight": normal(vocab_size, HIDDEN)}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}"
        tensors[f"{prefix}.input_layernorm.weight"] = np.ones(HIDDEN)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[f"{prefix}.self_attn.{name}.weight"] = normal(HIDDEN, HIDDEN)
        tensors[f"{prefix}.post_attention_layernorm.weight"] = np.ones(HIDDEN)
        tensors[f"{prefix}.mlp.gate_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[f"{prefix}.mlp.up_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[f"{prefix}.mlp.down_proj.weight"] = normal(HIDDEN, INTERMEDIATE)
    tensors["model.norm.weight"] = np.ones(HIDDEN)
    tensors["lm_head.weight"] = normal(vocab_size, HIDDEN, scale=1.0)  # large logits: varied, rarely <|eos|>
    return tensors


def write(folder: Path, *, seed: int = 0) -> Path:
    """Write the model into `folder` (created; files already there of the same names are replaced)."""
    vocab, merges = _vocabulary()
    bos, eos = vocab[SPECIAL[0]], vocab[SPECIAL[1]]
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "head_dim": HIDDEN // HEADS,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "vocab_size": len(vocab),
        "bos_token_id": bos,
        "eos_token_id": eos,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": SPECIAL[0],
        "eos_token": SPECIAL[1],
        "add_bos_token": False,
        "model_max_length": CONTEXT,
        "chat_template": CHAT_TEMPLATE,
    }
    files = {
        "config.json": config,
        "generation_config.json": {"bos_token_id": bos, "eos_token_id": eos},
        "tokenizer.json": _tokenizer(vocab, merges),
        "tokenizer_config.json": tokenizer_config,
        "special_tokens_map.json": {"bos_token": SPECIAL[0], "eos_token": SPECIAL[1]},
    }
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=1, ensure_ascii=False))
    _safetensors(folder / "model.safetensors", _weights(len(vocab), seed))
    return folder
