"""The generator's streamer hands out each token's text at once, holding back only a character
whose bytes are not all generated yet."""

from __future__ import annotations

from assistant.llm.generator import _TokenText


class ByteTokenizer:
    """Each token id is one piece of UTF-8 bytes, as in a byte-level BPE (Qwen2's)."""

    pieces = [b"<prompt>", b"D'apr", "\u00e8".encode()[:1], "\u00e8".encode()[1:], b"s", b" les", b" 17,5", b" [1]."]

    def decode(self, ids, skip_special_tokens=True, **kwargs):
        return b"".join(self.pieces[i] for i in ids).decode("utf-8", errors="replace")


def test_each_token_is_streamed_at_once_and_split_characters_wait_for_their_last_byte():
    text = _TokenText(ByteTokenizer())
    received = [text.add(token) for token in range(1, 8)]
    pieces = [piece for piece in received if piece]
    assert "".join(received) + text.rest() == "D'après les 17,5 [1]."
    # Every token but the first half of "è" gave a piece straight away (7 tokens, 6 pieces).
    assert pieces == ["D'apr", "\u00e8", "s", " les", " 17,5", " [1]."]


def test_a_character_cut_off_by_the_end_is_still_handed_out():
    text = _TokenText(ByteTokenizer())
    assert text.add(1) == "D'apr"
    assert text.add(2) == ""  # the first byte of "è": held back
    assert text.rest() == "\ufffd"  # generation ended there: what was held back is shown as it is
