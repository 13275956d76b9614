"""A tiny llama-architecture GGUF with random weights: llama-server loads it and streams tokens in ms.

It exists so the real engine can run anywhere (tests, the README's first command, CI) without
downloading a model. Its output is noise; only the serving path is real.
"""

from pathlib import Path

import numpy as np

EMBED = 64
LAYERS = 2
HEADS = 4
FFN = 128
CONTEXT = 4096
_WORDS = (
    "the of and to in is was for on that with as by at from his it an were are which this be or had not but "
    "what all when can said there use each she do how their if will up other about out many then them these "
    "so some her would make like him into time has look two more write go see number no way could people my "
    "than first water been call who oil its now find long down day did get come made may part"
).split()


def _vocabulary() -> tuple[list[str], list[float], list[int]]:
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    # Byte fallback: every byte has a token, so any text tokenizes.
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    # SPM merges pairs only into pieces that exist, so a word needs all its prefixes: "▁t", "▁th", "▁the".
    # Longer pieces score higher, so merging runs to whole words and a word is about one token.
    pieces = ["\u2581", *"abcdefghijklmnopqrstuvwxyz0123456789"]
    for word in _WORDS:
        full = "\u2581" + word
        pieces += [full[:k] for k in range(2, len(full) + 1) if full[:k] not in pieces]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * (3 + 256) + [float(len(p)) for p in pieces]
    return tokens, scores, [int(t) for t in types]


def write(path: Path, *, seed: int = 0) -> Path:
    """Write the model to `path` (about 0.4 MB) and return it."""
    import gguf

    rng = np.random.default_rng(seed)
    tokens, scores, types = _vocabulary()
    vocab = len(tokens)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("kitt-tiny-llama")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)

    def tensor(name: str, *shape: int, scale: float = 0.02) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    tensor("token_embd.weight", vocab, EMBED)
    for layer in range(LAYERS):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensor(f"{prefix}.{name}.weight", EMBED, EMBED)
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        tensor(f"{prefix}.ffn_gate.weight", FFN, EMBED)
        tensor(f"{prefix}.ffn_up.weight", FFN, EMBED)
        tensor(f"{prefix}.ffn_down.weight", EMBED, FFN)
    writer.add_tensor("output_norm.weight", np.ones(EMBED, dtype=np.float32))
    tensor("output.weight", vocab, EMBED, scale=1.0)  # large logits: varied tokens, rarely </s>
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
