"""Mine the prompt-fragment vocabulary (BDPL-style PMI n-grams) and merge workers' lists.

BDPL builds its candidate words from the task's training text: frequent unigrams plus bigrams and
trigrams that co-occur more than chance (pointwise mutual information). We do the same, lowercased,
dropping n-grams made only of punctuation or only of stop words, with deterministic tie-breaking
(score, then count, then the n-gram text).

Privacy of :func:`merge_vocabularies`: each worker sends its mined list, which reveals the worker's
top n-grams of its local text (frequent words and phrases, possibly names). Workers that must not
reveal this should mine from public text or use the built-in generic words only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from asyndbt.errors import ConfigError

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")

STOP_WORDS = frozenset(
    "a an and are as at be but by for from has have he her his i if in into is it its me my not of on or "
    "our she so than that the their them then there these they this to was we were what when which who "
    "will with you your".split()
)

# Generic instruction words used to pad a vocabulary when the text yields too few candidates.
GENERIC_WORDS = (
    "answer", "carefully", "classify", "correct", "consider", "context", "meaning", "focus", "label",
    "sentence", "decide", "clearly", "accurate", "precise", "think", "evidence", "overall", "tone",
    "relevant", "key", "words", "judge", "final", "only", "exactly", "best", "option", "reason",
    "brief", "true",
)


def tokenize(text: str) -> list[str]:
    """Lowercase and split into word tokens and single punctuation marks.

    Example:
        >>> tokenize("It's GREAT, really!")
        ["it's", 'great', ',', 'really', '!']
    """
    return _TOKEN.findall(text.lower())


def _is_word(tok: str) -> bool:
    return tok[0].isalnum()


def _keep(gram: tuple[str, ...]) -> bool:
    if not all(_is_word(t) for t in gram):  # n-grams spanning punctuation are not phrases
        return False
    return not all(t in STOP_WORDS for t in gram)


def mine_vocabulary_with_note(
    texts: Sequence[str], *, size: int, max_ngram: int = 3, min_count: int = 2
) -> tuple[list[str], str]:
    """Like :func:`mine_vocabulary` but also return a note saying whether generic words were padded.

    Returns:
        ``(vocabulary, note)``; ``note`` is ``""`` when the text gave enough candidates.
    """
    if size < 1:
        raise ConfigError(f"size={size} must be >= 1")
    if not 1 <= max_ngram <= 3:
        raise ConfigError(f"max_ngram={max_ngram} must be 1, 2 or 3")
    if min_count < 1:
        raise ConfigError(f"min_count={min_count} must be >= 1")
    docs = [tokenize(t) for t in texts]
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(max_ngram)]
    for toks in docs:
        for n in range(1, max_ngram + 1):
            counts[n - 1].update(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    total = sum(counts[0].values()) or 1
    scored: list[tuple[float, int, str]] = []  # (score, count, text); higher first
    for gram, c in counts[0].items():
        if c >= min_count and _keep(gram):
            scored.append((c / total, c, gram[0]))
    # PMI of an n-gram against its unigrams: log p(w1..wn) / prod p(wi). Ranked after the unigrams'
    # frequency scale by mapping PMI into the same [0, 1) range would be arbitrary, so we interleave
    # by rank instead: unigrams and phrases each sorted, then alternated.
    phrases: list[tuple[float, int, str]] = []
    for n in range(2, max_ngram + 1):
        n_total = sum(counts[n - 1].values()) or 1
        for gram, c in counts[n - 1].items():
            if c < min_count or not _keep(gram):
                continue
            joint = c / n_total
            indep = math.prod(counts[0][(t,)] / total for t in gram)
            phrases.append((math.log(joint / indep), c, " ".join(gram)))
    order = lambda item: (-item[0], -item[1], item[2])  # noqa: E731
    unigrams = [t for _, _, t in sorted(scored, key=order)]
    multi = [t for _, _, t in sorted(phrases, key=order)]
    merged: list[str] = []
    for i in range(max(len(unigrams), len(multi))):
        for source in (unigrams, multi):
            if i < len(source) and source[i] not in merged:
                merged.append(source[i])
    vocab = merged[:size]
    note = ""
    if len(vocab) < size:
        pad = [w for w in GENERIC_WORDS if w not in vocab][: size - len(vocab)]
        note = (f"text gave {len(vocab)} candidates for size={size}; padded with {len(pad)} generic "
                "instruction words")
        vocab += pad
        k = 0
        while len(vocab) < size:  # more than the built-in list: numbered fillers, still distinct
            vocab.append(f"note{k}")
            k += 1
    return vocab, note


def mine_vocabulary(texts: Sequence[str], *, size: int, max_ngram: int = 3, min_count: int = 2) -> list[str]:
    """Mine ``size`` candidate fragment words/n-grams from training texts (BDPL-style).

    Unigrams are ranked by frequency, bigrams/trigrams by PMI (then count, then text), and the two
    ranked lists are interleaved. Tokens are lowercased; n-grams made only of stop words or containing
    punctuation are dropped. If the text yields fewer than ``size`` candidates, the list is padded with
    built-in generic instruction words (``GENERIC_WORDS``); use :func:`mine_vocabulary_with_note` to
    learn whether that happened.

    Example:
        >>> mine_vocabulary(["good movie, good plot", "good movie indeed"], size=3)
        ['good', 'good movie', 'movie']
    """
    return mine_vocabulary_with_note(texts, size=size, max_ngram=max_ngram, min_count=min_count)[0]


def merge_vocabularies(vocabs: Sequence[Sequence[str]], *, size: int) -> list[str]:
    """Merge workers' ranked vocabularies into one list of ``size`` entries (server side).

    Each entry scores the sum over workers of ``1 / (1 + rank)`` (reciprocal-rank fusion), so an
    n-gram ranked high by several workers wins; ties break by the best single rank, then the text.
    Padded with ``GENERIC_WORDS`` if the union is too small. What this reveals: each worker's list is
    its top n-grams of its local text.

    Example:
        >>> merge_vocabularies([["good", "bad", "plot"], ["bad", "film"]], size=3)
        ['bad', 'good', 'film']
    """
    if size < 1:
        raise ConfigError(f"size={size} must be >= 1")
    score: dict[str, float] = {}
    best: dict[str, int] = {}
    for vocab in vocabs:
        seen: set[str] = set()
        for rank, word in enumerate(vocab):
            if word in seen:
                continue
            seen.add(word)
            score[word] = score.get(word, 0.0) + 1.0 / (1 + rank)
            best[word] = min(best.get(word, rank), rank)
    merged = sorted(score, key=lambda w: (-score[w], best[w], w))[:size]
    for w in GENERIC_WORDS:
        if len(merged) >= size:
            break
        if w not in merged:
            merged.append(w)
    return merged


def _readable(tok: str) -> bool:
    return tok.isalpha() and len(tok) >= 3 and tok not in STOP_WORDS


def mine_label_words(texts: Sequence[str], labels: Sequence[int], *, size: int, min_count: int = 2) -> list[str]:
    """Mine ``size`` readable single words that tell the classes apart (the default fragment vocabulary).

    A candidate is an alphabetic word of three or more letters that is not a stop word. Its score
    is ``count(w, c) * log(p(c | w) / p(c))`` for its most associated class ``c`` (frequency times
    pointwise mutual information with the label), so frequent, class-specific words come first;
    ties break by total count, then the word. Padded with ``GENERIC_WORDS`` when the text is short.

    Example:
        >>> mine_label_words(["great fun film", "great acting film", "dull boring film", "boring plot film"],
        ...                  [1, 1, 0, 0], size=3)
        ['boring', 'great', 'film']
    """
    if size < 1:
        raise ConfigError(f"size={size} must be >= 1")
    if len(texts) != len(labels):
        raise ConfigError(f"{len(texts)} texts but {len(labels)} labels; give one label per text")
    per_class: dict[int, Counter[str]] = {}
    total: Counter[str] = Counter()
    for text, y in zip(texts, labels, strict=True):
        words = set(t for t in tokenize(text) if _readable(t))
        per_class.setdefault(int(y), Counter()).update(words)
        total.update(words)
    n_docs = len(texts) or 1
    class_share = {c: sum(1 for y in labels if int(y) == c) / n_docs for c in per_class}
    scored: list[tuple[float, int, str]] = []
    for w, n in total.items():
        if n < min_count:
            continue
        best = max(per_class[c][w] * math.log((per_class[c][w] / n) / class_share[c])
                   for c in per_class if per_class[c][w] > 0)
        scored.append((best, n, w))
    words = [w for _, _, w in sorted(scored, key=lambda t: (-t[0], -t[1], t[2]))][:size]
    for w in GENERIC_WORDS:
        if len(words) >= size:
            break
        if w not in words:
            words.append(w)
    return words
