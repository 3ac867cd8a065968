"""Full-text tokens: pure, with properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hotline.tickets.search import document, matches, query_tokens, tokens

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x4E80)
ASCII_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=8)
PIECE = st.one_of(ASCII_WORD, DIGITS, st.text(alphabet=CJK, min_size=1, max_size=6))
SEP = st.sampled_from([" ", ", ", "。", "-", "/", "\n", "（", "）"])


def test_examples() -> None:
    assert tokens("停电报修") == ["停电", "电报", "报修"]
    assert tokens("A区 停电") == ["a", "区", "停电"]
    assert tokens("GD20261123-0000042") == ["gd", "20261123", "0000042"]
    assert tokens("Ｍｅｔｅｒ１２３") == ["meter", "123"]  # full-width → ASCII
    assert tokens("!!! ...") == []
    assert document("Power outage", "power 停电") == " outage power 停电 "
    assert document("", "") == ""
    assert query_tokens("power POWER 停电停电") == ["power", "停电", "电停"]
    assert matches(document("东山街道大面积停电"), "大面积停电")
    assert not matches(document("东山街道大面积停电"), "停电 meter")
    assert not matches(document("abc"), "!!!")


@given(st.lists(st.tuples(PIECE, SEP), min_size=1, max_size=8), st.data())
def test_every_substring_of_whole_pieces_is_found(parts: list[tuple[str, str]], data: st.DataObject) -> None:
    """A query made of consecutive whole pieces of a text (words, numbers, CJK runs) finds it."""
    text = "".join(p + sep for p, sep in parts)
    doc = document(text)
    i = data.draw(st.integers(0, len(parts) - 1))
    j = data.draw(st.integers(i + 1, len(parts)))
    query = "".join(p + sep for p, sep in parts[i:j])
    assert matches(doc, query)


@given(st.text(alphabet=CJK, min_size=2, max_size=30), st.data())
def test_any_cjk_substring_of_two_or_more_is_found(run: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(run) - 2))
    j = data.draw(st.integers(i + 2, len(run)))
    assert matches(document("前缀 " + run + " suffix"), run[i:j])


@given(st.text(max_size=200))
def test_document_is_canonical(text: str) -> None:
    doc = document(text)
    words = doc.split()
    assert words == sorted(set(words))
    assert all(" " not in w and "%" not in w and "_" not in w for w in words)
    assert doc == "" or (doc.startswith(" ") and doc.endswith(" "))
    # every token of the text is in its document
    assert all(f" {t} " in doc for t in tokens(text))
