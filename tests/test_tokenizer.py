import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charlstm.errors import PrimeError
from charlstm.tokenizer import CharTokenizer, describe_char, normalize

TRICKY = [
    "plain ASCII, with punctuation!?",
    "Tiếng Việt có dấu",  # Vietnamese
    "日本語のテキスト、句読点。",  # Japanese
    "emoji 🙂🚀 and a family 👨‍👩‍👧 (ZWJ sequence)",
    "עברית and العربية right-to-left",
    "tabs\tand\nnewlines\n\nand trailing spaces   ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP 𝄞",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_tricky(text):
    tok = CharTokenizer.from_text(text + "ab")
    assert tok.decode(tok.encode(text)) == normalize(text, "NFC")


def test_codepoints_not_bytes():
    tok = CharTokenizer.from_text("🚀a")
    assert tok.vocab_size == 2
    assert tok.encode("🚀") == [tok.stoi["🚀"]]
    assert len(tok.encode("a🚀a")) == 3


def test_vocabulary_sorted_by_codepoint():
    tok = CharTokenizer.from_text("zebra ÄPFEL 1")
    assert tok.chars == sorted(tok.chars)
    assert tok.chars[0] == " " and tok.encode(" ") == [0]


def test_nfd_and_nfc_give_same_ids():
    nfc = "Tiếng Việt, phở"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    a, b = CharTokenizer.from_text(nfc), CharTokenizer.from_text(nfd)
    assert a == b
    assert a.encode(nfd) == a.encode(nfc)


def test_unknown_characters_listed_with_codepoints():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(PrimeError) as e:
        tok.encode("abz🙂")
    msg = str(e.value)
    assert "U+007A" in msg and "U+1F642" in msg
    assert tok.encode("abz🙂", skip_unknown=True) == [0, 1]


def test_serialization_round_trip():
    tok = CharTokenizer.from_text("hello wörld\n")
    d = tok.to_dict()
    assert isinstance(d["chars"], str)
    assert CharTokenizer.from_dict(d) == tok


def test_id_width():
    assert CharTokenizer([chr(i) for i in range(256)]).id_dtype_bits == 8
    assert CharTokenizer([chr(i) for i in range(257)]).id_dtype_bits == 16


def test_describe_char():
    assert describe_char("\n") == "'\\n' (U+000A LINE FEED)"


@given(st.text(min_size=1))
def test_round_trip_property(text):
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)


@given(st.text(alphabet=st.characters(categories=["L", "M"]), min_size=1))
def test_nfc_nfd_property(text):
    nfd = unicodedata.normalize("NFD", text)
    tok = CharTokenizer.from_text(text)
    assert CharTokenizer.from_text(nfd) == tok
    assert tok.encode(nfd) == tok.encode(text)


def test_a_stored_vocabulary_keeps_its_order_and_refuses_duplicates():
    import pytest
    tok = CharTokenizer.from_dict({"chars": ["a", "b", "c", "!"], "normalization": "NFC"})  # "!" appended
    assert tok.chars == ["a", "b", "c", "!"] and tok.encode("a!") == [0, 3]
    assert CharTokenizer(["b", "a", "b"]).chars == ["a", "b"]  # a new corpus: codepoint order
    with pytest.raises(ValueError, match="distinct"):
        CharTokenizer.from_dict({"chars": ["a", "a"], "normalization": "NFC"})
