"""Penn Treebank (Mikolov's ``simple-examples.tgz``) as one stream of word ids.

Each line of ``data/ptb.{train,valid,test}.txt`` is split on whitespace and followed by ``<eos>``;
the three splits are concatenated in that order (train 929,589, valid 73,760, test 82,430 tokens
for the real files).

The vocabulary is built from the training split only and is deterministic: tokens sorted by
descending frequency in the training stream (``<eos>`` included), ties broken by code-point order
of the token. (The authors' ids came from a Python set, whose order is not reproducible.) It is
written as ``vocab.txt``, line ``k`` holding the token with id ``k``. A valid/test token missing
from the vocabulary is an error naming file and line: PTB has none, so one means a wrong file.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter

import torch

from .archives import read_members
from .errors import ChecksumError, FormatError, SourceConfigError

EOS = "<eos>"
SPLITS = ("train", "valid", "test")
MEMBER = "simple-examples/data/ptb.{split}.txt"


def tokenise(text: str) -> list[list[str]]:
    """Per line, its whitespace-separated words followed by ``<eos>`` (a final newline adds no line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.split() + [EOS] for line in lines]


def build_vocabulary(lines: list[list[str]]) -> list[str]:
    """Tokens by descending count, ties by code-point order (see module doc)."""
    counts = Counter(token for line in lines for token in line)
    return sorted(counts, key=lambda token: (-counts[token], token))


def _decode(payload: bytes, source: str) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{source}: not UTF-8 text ({exc})") from exc


def build_penn_treebank(
    archive: str | os.PathLike,
    *,
    tokens: dict[str, int] | None = None,
    vocab_size: int | None = None,
    members_md5: dict[str, str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(data, targets, vocabulary)``: int64 ``(T,)`` word ids (targets identical), vocabulary list.

    ``tokens`` optionally gives the expected token count per split, ``vocab_size`` the expected
    vocabulary size and ``members_md5`` the MD5 of each split's text file (an integrity check of the
    content, in addition to the archive's sha256); a difference is an error naming the archive.
    """
    name = os.fspath(archive)
    members = read_members(archive, [MEMBER.format(split=s) for s in SPLITS])
    for split, expected in (members_md5 or {}).items():
        member = MEMBER.format(split=split)
        if member not in members:
            raise SourceConfigError(f"options.members_md5: unknown split {split!r} (splits: {', '.join(SPLITS)})")
        actual = hashlib.md5(members[member], usedforsecurity=False).hexdigest()
        if actual != expected.lower():
            raise ChecksumError(f"{name}:{member}: md5 mismatch: expected {expected}, actual {actual}")
    split_lines = {
        split: tokenise(_decode(members[MEMBER.format(split=split)], f"{name}:{MEMBER.format(split=split)}"))
        for split in SPLITS
    }
    vocabulary = build_vocabulary(split_lines["train"])
    if vocab_size is not None and len(vocabulary) != vocab_size:
        raise FormatError(f"{name}: training vocabulary has {len(vocabulary)} tokens, expected {vocab_size}")
    ids = {token: index for index, token in enumerate(vocabulary)}
    stream: list[int] = []
    for split in SPLITS:
        member = MEMBER.format(split=split)
        start = len(stream)
        for number, line in enumerate(split_lines[split], start=1):
            try:
                stream.extend(ids[token] for token in line)
            except KeyError as exc:
                raise FormatError(
                    f"{name}:{member}:{number}: token {exc.args[0]!r} is not in the training vocabulary"
                ) from None
        count = len(stream) - start
        if tokens is not None and split in tokens and count != tokens[split]:
            raise FormatError(f"{name}:{member}: {count} tokens, expected {tokens[split]}")
    data = torch.tensor(stream, dtype=torch.int64)
    return data, data.clone(), vocabulary


def vocabulary_text(vocabulary: list[str]) -> str:
    """``vocab.txt`` content: one token per line, line ``k`` = id ``k``."""
    for token in vocabulary:
        if not token or any(c.isspace() for c in token):
            raise FormatError(f"vocabulary token {token!r} cannot be written one per line")
    return "".join(token + "\n" for token in vocabulary)
