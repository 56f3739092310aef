"""An AI inference pipeline: preprocess -> batch -> infer -> postprocess.

The model is a real one, small enough to train in a blink with the standard library: a
multinomial naive Bayes topic classifier (sports, tech, food, weather) trained on a
corpus generated from a seed. Every stage function is module-level, so the same pipeline
runs its inference stage on threads, on processes or inline::

    from godnb.examples.inference import build_pipeline, generate_corpus, train_model
    model = train_model(seed=0)
    texts = [text for text, _ in generate_corpus(500, seed=1)]
    p = build_pipeline(texts, batch_size=32, workers=2, backend="process", model=model)
    predictions = p.collect()     # [{"text": ..., "label": "food", "confidence": 0.97}, ...]
    print(p.profile())            # per stage: items in/out, busy time, p50/p95, throughput

Run ``python -m godnb.examples.inference [--backend process]`` for accuracy and profile.
"""

from __future__ import annotations

import argparse
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from godnb.core.pipeline import Pipeline

__all__ = ["NaiveBayes", "Prediction", "build_pipeline", "evaluate", "generate_corpus",
           "infer_batch", "main", "postprocess", "preprocess", "train_model", "unbatch"]

# Words that mark a topic; some (cloud, fresh, season) belong to two, as in real text.
TOPICS: dict[str, tuple[str, ...]] = {
    "sports": ("match", "goal", "team", "coach", "season", "player", "score", "league", "win",
               "referee", "stadium", "penalty", "tournament", "striker",
               "defense", "champion", "fans", "transfer"),
    "tech": ("software", "code", "computer", "chip", "network", "cloud", "data", "server",
             "python", "algorithm", "robot", "startup", "app", "battery", "laptop",
             "update", "security", "model"),
    "food": ("recipe", "bake", "chef", "flavor", "kitchen", "dinner", "spicy", "sauce",
             "cheese", "garlic", "oven", "menu", "dessert", "fresh", "salad",
             "bread", "season", "taste"),
    "weather": ("rain", "storm", "sunny", "forecast", "wind", "cloud", "cold", "snow",
                "temperature", "humid", "thunder", "breeze", "frost",
                "heatwave", "umbrella", "warning", "fresh"),
}
# Words every topic uses: the classifier must learn to ignore them.
COMMON = ("people", "city", "week", "report", "local", "new", "big", "great", "today", "really",
          "said", "after", "first", "last", "good", "bad", "time", "year")
STOPWORDS = frozenset(("the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "with",
                       "at", "by", "is", "was", "it", "this", "that",
                       "are", "be", "from", "as"))
_FILLERS = ("the", "a", "and", "of", "in", "on", "is", "was", "for", "this")
_WORD = re.compile(r"[a-z]+")


def generate_corpus(n: int, seed: int = 0, noise: float = 0.3) -> list[tuple[str, str]]:
    """``n`` labelled short texts: ``(text, topic)``. Deterministic for a seed.

    Each text mixes words of its topic with common words, stopwords and, with
    probability ``noise`` per word, a word of another topic.

    Example:
        >>> generate_corpus(2, seed=3)[0][1] in TOPICS
        True
    """
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    out = []
    for _ in range(n):
        topic = rng.choice(topics)
        words = []
        for _ in range(rng.randint(5, 12)):
            r = rng.random()
            if r < noise:
                words.append(rng.choice(TOPICS[rng.choice(topics)]))
            elif r < noise + 0.25:
                words.append(rng.choice(COMMON))
            else:
                words.append(rng.choice(TOPICS[topic]))
            if rng.random() < 0.4:
                words.append(rng.choice(_FILLERS))
        text = " ".join(words).capitalize() + rng.choice(".!?")
        out.append((text, topic))
    return out


class Doc(NamedTuple):
    """A preprocessed text: the original and its tokens."""

    text: str
    tokens: tuple[str, ...]


class Prediction(NamedTuple):
    text: str
    label: str
    confidence: float


@dataclass(frozen=True)
class NaiveBayes:
    """A trained multinomial naive Bayes model (plain data: it pickles to workers).

    ``log_prior[c]`` is log P(c); ``log_like[c][w]`` is log P(w | c) with Laplace smoothing,
    and ``log_unseen[c]`` the same for a word never seen with ``c``.
    """

    classes: tuple[str, ...]
    log_prior: dict[str, float]
    log_like: dict[str, dict[str, float]]
    log_unseen: dict[str, float]

    def scores(self, tokens: Iterable[str]) -> dict[str, float]:
        """Unnormalised log posterior of each class."""
        counts = Counter(tokens)
        out = {}
        for c in self.classes:
            like, unseen = self.log_like[c], self.log_unseen[c]
            out[c] = self.log_prior[c] + sum(k * like.get(w, unseen) for w, k in counts.items())
        return out

    def predict(self, tokens: Iterable[str]) -> tuple[str, float]:
        """The most likely class and its posterior probability."""
        scores = self.scores(tokens)
        top = max(scores.values())
        norm = sum(math.exp(s - top) for s in scores.values())
        label = max(self.classes, key=lambda c: (scores[c], c))
        return label, 1.0 / norm


def fit(docs: Sequence[Sequence[str]], labels: Sequence[str], alpha: float = 1.0
        ) -> NaiveBayes:
    """Train on token lists and their labels (Laplace smoothing ``alpha``)."""
    classes = tuple(sorted(set(labels)))
    vocab = {w for doc in docs for w in doc}
    counts = {c: Counter[str]() for c in classes}
    for doc, label in zip(docs, labels, strict=True):
        counts[label].update(doc)
    n_docs = Counter(labels)
    log_prior = {c: math.log(n_docs[c] / len(labels)) for c in classes}
    log_like, log_unseen = {}, {}
    for c in classes:
        denom = sum(counts[c].values()) + alpha * (len(vocab) + 1)
        log_like[c] = {w: math.log((counts[c][w] + alpha) / denom) for w in vocab}
        log_unseen[c] = math.log(alpha / denom)
    return NaiveBayes(classes, log_prior, log_like, log_unseen)


def train_model(seed: int = 0, n: int = 2000) -> NaiveBayes:
    """A naive Bayes topic classifier trained on ``n`` generated texts."""
    corpus = generate_corpus(n, seed=seed)
    return fit([preprocess(text).tokens for text, _ in corpus], [y for _, y in corpus])


# -- the pipeline's stage functions (module-level: they pickle for backend="process") -------

def preprocess(text: str) -> Doc:
    """Lowercase, keep alphabetic words, drop stopwords."""
    return Doc(text, tuple(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS))


def infer_batch(model: NaiveBayes, batch: list[Doc]) -> list[Prediction]:
    """The model on a batch of documents (one call per batch, as a real model would be)."""
    return [Prediction(doc.text, *model.predict(doc.tokens)) for doc in batch]


def unbatch(batch: list[Prediction]) -> list[Prediction]:
    return batch


def postprocess(pred: Prediction) -> dict[str, Any]:
    """A plain record; low-confidence predictions are flagged for review."""
    return {"text": pred.text, "label": pred.label, "confidence": round(pred.confidence, 4),
            "review": pred.confidence < 0.6}


def build_pipeline(texts: Iterable[str], batch_size: int = 32, workers: int = 2,
                   backend: str | None = "thread", model: NaiveBayes | None = None,
                   seed: int = 0) -> Pipeline:
    """preprocess -> batch -> infer (``workers`` in parallel on ``backend``) -> postprocess.

    ``backend=None`` with ``workers=1`` runs inference inline. Without a ``model`` one is
    trained with ``seed``.

    Example:
        >>> p = build_pipeline(["Rain and snow in the forecast"], workers=1, backend=None)
        >>> p.collect()[0]["label"]
        'weather'
    """
    model = model if model is not None else train_model(seed=seed)
    return (Pipeline(texts, name="inference")
            .map(preprocess)
            .batch(batch_size)
            .map(partial(infer_batch, model), workers=workers, backend=backend)
            .flat_map(unbatch)
            .map(postprocess))


def evaluate(predictions: Sequence[dict[str, Any]], labels: Sequence[str]) -> float:
    """Accuracy of predictions (in input order) against the true labels."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    hits = sum(p["label"] == y for p, y in zip(predictions, labels, strict=True))
    return hits / len(labels) if labels else 0.0


def main(argv: list[str] | None = None) -> float:
    """Train, classify a held-out set through the pipeline, print accuracy and profile."""
    parser = argparse.ArgumentParser(description="godnb inference pipeline example")
    parser.add_argument("--backend", default="thread", choices=("thread", "process", "inline"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("-n", type=int, default=1000, help="held-out texts to classify")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = train_model(seed=args.seed)
    test = generate_corpus(args.n, seed=args.seed + 1)
    backend = None if args.backend == "inline" else args.backend
    workers = 1 if backend is None else args.workers
    p = build_pipeline([t for t, _ in test], batch_size=args.batch_size, workers=workers,
                       backend=backend, model=model)
    predictions = p.collect()
    accuracy = evaluate(predictions, [y for _, y in test])
    print(f"accuracy on {len(test)} held-out texts: {accuracy:.3f} "
          f"({sum(p['review'] for p in predictions)} flagged for review)")
    print(p.profile())
    return accuracy


if __name__ == "__main__":
    main()
