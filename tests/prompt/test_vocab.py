from hypothesis import given, settings
from hypothesis import strategies as st

from asyndbt.prompt import GENERIC_WORDS, merge_vocabularies, mine_vocabulary, mine_vocabulary_with_note

TEXTS = [
    "The movie was a great success, a great story.",
    "A great story with a terrible ending.",
    "The ending of the movie was terrible!",
    "Great acting, great story, and the movie never drags.",
]


def test_mining_ranks_and_filters():
    vocab = mine_vocabulary(TEXTS, size=6)
    assert vocab[0] == "great"
    assert any("great story" in w for w in vocab)
    assert all(w not in {"the", "a", ",", "!", "of the"} for w in vocab)
    assert vocab == [w.lower() for w in vocab] and len(set(vocab)) == len(vocab)


def test_mining_is_deterministic_and_order_independent_of_ties():
    assert mine_vocabulary(TEXTS, size=8) == mine_vocabulary(list(TEXTS), size=8)


def test_padding_is_flagged():
    vocab, note = mine_vocabulary_with_note(["tiny text"], size=5)
    assert len(vocab) == 5 and "padded" in note and vocab[0] in GENERIC_WORDS
    vocab, note = mine_vocabulary_with_note(TEXTS, size=3)
    assert note == ""


def test_merge_by_rank():
    merged = merge_vocabularies([["good", "bad", "plot"], ["bad", "film"], ["bad"]], size=4)
    assert merged[0] == "bad" and len(merged) == 4 and len(set(merged)) == 4
    assert merge_vocabularies([], size=2) == list(GENERIC_WORDS[:2])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=6), st.integers(1, 40))
def test_mining_always_returns_size_distinct(texts, size):
    vocab = mine_vocabulary(texts, size=size, min_count=1)
    assert len(vocab) == size and len(set(vocab)) == size
