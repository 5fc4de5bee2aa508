"""Box markup that decoding keeps: Qwen2-VL's native grounding tokens and InternVL's ``<ref>`` / ``<box>``.

Qwen2-VL writes its own boxes as ``<|object_ref_start|>dog<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``
(0-1000 over the image), and InternVL's ``<ref>`` / ``<box>`` (the tags GRIT's InternVL prompt asks for) are
special tokens as well. Generation and TRL decode completions with ``skip_special_tokens=True``, which drops
them: the label is lost and the box is left as bare numbers. :func:`keep_box_markup` makes a loaded tokenizer
decode these tokens as text while every other special token is still skipped; :func:`grit.chain.parse` reads
both syntaxes. The tokenizer files are not changed.
"""

from __future__ import annotations

BOX_MARKUP = (
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
)


def special_markup_ids(tokenizer) -> dict[int, str]:
    """Ids of the box-markup tokens this tokenizer treats as special (those ``skip_special_tokens`` drops)."""
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return {
        i: t.content for i, t in decoder.items() if t.content in BOX_MARKUP and getattr(t, "special", False)
    }


class MarkupKeepingDecode:
    """The tokenizer's own ``_decode``, except that with ``skip_special_tokens`` the box markup stays as text.

    The ids between two markup tokens are decoded as one run, so byte-level pieces join as before. A class
    rather than a closure so the tokenizer still pickles."""

    def __init__(self, plain, keep: dict[int, str]):
        self.plain = plain
        self.keep = keep

    def __call__(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else token_ids
        if not skip_special_tokens or not any(t in self.keep for t in ids):
            return self.plain(ids, skip_special_tokens=skip_special_tokens, **kwargs)
        parts, run = [], []
        for t in ids:
            if t in self.keep:
                if run:
                    parts.append(self.plain(run, skip_special_tokens=True, **kwargs))
                    run = []
                parts.append(self.keep[t])
            else:
                run.append(t)
        if run:
            parts.append(self.plain(run, skip_special_tokens=True, **kwargs))
        return "".join(parts)


def keep_box_markup(tokenizer) -> list[str]:
    """Make ``tokenizer`` (in memory) decode its special box-markup tokens as text; returns those tokens."""
    keep = special_markup_ids(tokenizer)
    plain = getattr(tokenizer, "_decode", None)
    if not keep or plain is None or isinstance(plain, MarkupKeepingDecode):
        return sorted(keep.values())
    tokenizer._decode = MarkupKeepingDecode(plain, keep)
    return sorted(keep.values())
