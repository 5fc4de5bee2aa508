"""A small word-level tokenizer built offline, for tiny models of real families.

Real checkpoints cannot be downloaded here, so tests and the shapes world use tokenizers built from a word
list. Decoding is exact (spaces and newlines are tokens of their own), the GRIT tags are ordinary added tokens
(so they survive ``skip_special_tokens``), and numbers are either one token per digit (like real Qwen/InternVL
tokenizers) or one token per whole number up to 999 (shorter sequences for the shapes world).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

GRIT_TAGS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>"]

# Words every tiny tokenizer knows: the GRIT prompts, the chat templates' fixed text, the shapes world and
# a little general vocabulary for benchmark-style questions. Anything else becomes <unk>.
BASE_WORDS = """
Question First think between and while output necessary coordinates needed to answer the question in JSON with
key Then based on thinking contents rethink after You are a helpful assistant system user assistant Picture
Image Answer directly Locate every Describe image Find all There is are no in of on at the a an it this that I
need look check objects object so yes no Yes No true false True False how many How What what which Which color
colour shape shapes red green blue yellow purple orange black white gray grey circle circles square squares
triangle triangles left right above below top bottom middle center side sides total sum minus plus more than
fewer less same different number numbers count can you see any Is Are Does does have has there with without of
to from by be or not its their them they we our my your his her cat dog person car table chair man woman box
boxes bounding list give short word single letter option options choose correct A B C D E and First Second
bbox box row column part image reason step by Where where When Who whose Why
""".split()

PUNCT = list(".,:;!?'\"()[]{}-_/+*=<>%&#@$|\\^~`")


def _split_regex(number_tokens: str) -> str:
    num = r"\d" if number_tokens == "digits" else r"\d{1,3}"
    return rf'"bbox_2d"|"label"|{num}|[A-Za-z]+|\s|[^\sA-Za-z\d]'


def build_vocab(
    special_tokens: Iterable[str],
    number_tokens: str = "digits",
    extra_words: Iterable[str] = (),
) -> list[str]:
    """Token list: special tokens first (stable low ids), then tags, fixed pieces, numbers, words, characters."""
    if number_tokens not in ("digits", "whole"):
        raise ValueError(f"number_tokens must be 'digits' or 'whole', got {number_tokens!r}")
    vocab: list[str] = []
    seen: set[str] = set()

    def add(tok: str) -> None:
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)

    for t in ["<unk>", *special_tokens, *GRIT_TAGS, '"bbox_2d"', '"label"', " ", "\n", "\t"]:
        add(t)
    for n in range(10 if number_tokens == "digits" else 1000):
        add(str(n))
    if number_tokens == "whole":  # leading-zero chunks of long numbers: "1005" -> "100", "5"; "0.05" -> "05"
        for n in range(100):
            add(f"{n:02d}")
            add(f"{n:03d}")
    for w in [*BASE_WORDS, *extra_words]:
        add(w)
        add(w.lower())
        add(w.capitalize())
    for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        add(c)
    for p in PUNCT:
        add(p)
    return vocab


def build_tokenizer(
    special_tokens: list[str],
    number_tokens: str = "digits",
    extra_words: Iterable[str] = (),
) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` whose decode(encode(text)) == text for any text made of known pieces."""
    vocab = build_vocab(special_tokens, number_tokens, extra_words)
    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_split_regex(number_tokens)), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(special_tokens))
    # Tags as added (non-special) tokens: matched before pre-tokenisation, kept by skip_special_tokens.
    from tokenizers import AddedToken

    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in GRIT_TAGS])
    return tok
