"""The inference example: a real (small) model behind preprocess -> batch -> infer -> post."""

from __future__ import annotations

import time

import pytest

from godnb.examples import inference as ex


@pytest.fixture(scope="module")
def model() -> ex.NaiveBayes:
    return ex.train_model(seed=0)


@pytest.fixture(scope="module")
def held_out() -> list[tuple[str, str]]:
    return ex.generate_corpus(400, seed=1)


def test_corpus_and_model_are_deterministic(model: ex.NaiveBayes) -> None:
    assert ex.generate_corpus(50, seed=7) == ex.generate_corpus(50, seed=7)
    assert ex.generate_corpus(50, seed=7) != ex.generate_corpus(50, seed=8)
    assert ex.train_model(seed=0) == model
    assert model.classes == ("food", "sports", "tech", "weather")


def test_the_model_classifies_held_out_text_well(model: ex.NaiveBayes,
                                                 held_out: list[tuple[str, str]]) -> None:
    p = ex.build_pipeline([t for t, _ in held_out], model=model)
    predictions = p.collect()
    assert ex.evaluate(predictions, [y for _, y in held_out]) >= 0.85
    first = predictions[0]
    assert set(first) == {"text", "label", "confidence", "review"}
    assert first["text"] == held_out[0][0]
    assert 0.25 <= first["confidence"] <= 1.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("backend", "workers"), [(None, 1), ("thread", 2), ("process", 2)])
def test_every_backend_gives_the_same_predictions(model: ex.NaiveBayes,
                                                  held_out: list[tuple[str, str]],
                                                  backend: str | None, workers: int) -> None:
    texts = [t for t, _ in held_out]
    reference = [ex.postprocess(ex.Prediction(t, *model.predict(ex.preprocess(t).tokens)))
                 for t in texts]
    p = ex.build_pipeline(texts, batch_size=16, workers=workers, backend=backend, model=model)
    assert p.collect() == reference
    prof = p.profile()
    assert [s.name for s in prof.stages] == ["source", "map[0]:preprocess", "batch[1]",
                                             "map[2]:infer_batch", "flat_map[3]:unbatch",
                                             "map[4]:postprocess"]
    assert prof.stage("batch[1]").items_out == prof.stage("map[2]").items_in == 25


def test_main_prints_accuracy_and_profile_quickly(capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.perf_counter()
    accuracy = ex.main(["-n", "500"])
    assert time.perf_counter() - t0 < 10  # ~0.3 s normally; generous on a loaded machine
    out = capsys.readouterr().out
    assert out.startswith(f"accuracy on 500 held-out texts: {accuracy:.3f}")
    assert "map[2]:infer_batch (thread x2)" in out
    assert accuracy >= 0.85
