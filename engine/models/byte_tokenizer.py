"""A byte-level tokenizer the project makes offline, for random-weight models, tests and benchmarks.

Every UTF-8 byte is one token (ids 4..259), so any script round-trips exactly and bits per byte are
easy to check by hand. It is a real `PreTrainedTokenizerFast`, so lm-eval's HFLM accepts it.
"""

from __future__ import annotations

from functools import lru_cache

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
VOCAB_SIZE = len(SPECIALS) + 256


def make_byte_tokenizer():  # -> transformers.PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    # ByteLevel maps each byte to a printable character; order them by byte value
    byte_chars = pre_tokenizers.ByteLevel.alphabet()
    by_value = sorted(byte_chars, key=lambda ch: _byte_of(ch))
    for ch in by_value:
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        model_max_length=1 << 20,
    )


@lru_cache(maxsize=1)
def _char_to_byte() -> dict[str, int]:
    # GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to 256 + n
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _byte_of(ch: str) -> int:
    return _char_to_byte()[ch]
