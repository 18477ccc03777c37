"""The index records which encoder made its vectors (model file, dimension, token basis):
ingesting with another one embeds every committed sentence anew, once, even for files that
did not change, and vectors of another dimension replace the old ones instead of failing."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3

import numpy as np
import pytest

from assistant import embedding
from assistant.embedding import Encoder
from assistant.ingest import Ingestor
from assistant.service import Assistant
from assistant.store import catalog_path

from .conftest import SEED_ARTICLE, make_settings

MB = 2**20


class Hashed48:
    """Another encoder, of 48 dimensions (words hashed into buckets; ranking is not tested)."""

    identity = "hashed words, 48 dims"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 48), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, hashlib.sha1(word.encode()).digest()[0] % 48] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-6)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    shutil.copy(SEED_ARTICLE, root / SEED_ARTICLE.name)
    (root / "alpha.txt").write_text("Alpha is the first letter. It starts the alphabet.\n")
    return root


def _ingest(assistant: Assistant, paths):
    with assistant.index.writing():
        return assistant.ingestor().ingest_paths(paths, 10 * MB)


def _in_step(index) -> None:
    assert index.chroma.ids() == index.catalog.ids()
    assert index.catalog.missing_vectors() == []


def test_another_token_basis_embeds_unchanged_files_anew(tmp_path, corpus, encoder):
    settings = make_settings(tmp_path)
    first = Assistant(settings, encoder=encoder)
    _ingest(first, [corpus])
    assert first.index.embedding() == encoder.identity == embedding.identity()
    ids = sorted(first.index.catalog.ids())
    old_tokens = first.index.token_states(ids)
    first.index.close()

    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((embedding.DIMENSIONS, embedding.TOKEN_DIMS)))
    other = Encoder(basis=basis.astype(np.float32))
    assert other.identity != encoder.identity
    second = Assistant(settings, encoder=other)
    report = _ingest(second, [corpus])
    assert {f.status for f in report.files} == {"unchanged"}
    assert report.sentences_reembedded == len(ids) and report.sentences_embedded == 0
    assert second.index.embedding() == other.identity
    new_tokens = second.index.token_states(ids)
    assert set(new_tokens) == set(ids)
    assert all(new_tokens[i] != old_tokens[i] for i in ids)
    _in_step(second.index)
    again = _ingest(second, [corpus])
    assert again.sentences_reembedded == 0  # once
    assert second.ask("What did Putin confirm?").found
    second.index.close()


def test_another_dimension_rebuilds_once_and_then_adds_files(tmp_path, corpus, encoder):
    settings = make_settings(tmp_path)
    first = Assistant(settings, encoder=encoder)
    _ingest(first, [corpus])
    n = first.index.count()
    first.index.close()

    small = Assistant(settings, encoder=Hashed48())
    report = _ingest(small, [corpus])
    assert report.sentences_reembedded == n
    assert {len(v) for v in small.index.vectors(sorted(small.index.catalog.ids())).values()} \
        == {48}
    _in_step(small.index)
    (corpus / "bravo.txt").write_text("Bravo is the second letter of the alphabet.\n")
    more = _ingest(small, [corpus])  # a 48-d document joins the 48-d collection
    assert more.sentences_reembedded == 0 and more.count("indexed") == 1
    _in_step(small.index)
    found = small.index.vector_search(small.encoder.encode_one("second letter bravo"), 3)
    assert found and found[0][0].text.startswith("Bravo is the second letter")
    small.index.close()

    back = Assistant(settings, encoder=encoder)
    assert _ingest(back, [corpus]).sentences_reembedded == n + 1
    assert back.index.embedding() == encoder.identity
    assert back.ask("What did Putin confirm?").found
    back.index.close()


def test_an_index_that_recorded_no_encoder_was_made_by_the_default_one(seeded_dir, tmp_path):
    root = tmp_path / "legacy"
    shutil.copytree(seeded_dir, root)
    settings = make_settings(root)
    with sqlite3.connect(catalog_path(settings)) as db:
        db.execute("DELETE FROM meta WHERE key='embedding'")

    def no_model():
        raise AssertionError("the model must not be loaded: nothing is to be embedded")

    assistant = Assistant(settings)
    assert assistant.index.embedding() is None
    with assistant.index.writing():
        report = Ingestor(assistant.index, no_model).ingest_paths([SEED_ARTICLE.parent], MB)
    assert report.sentences_reembedded == 0 and report.sentences_embedded == 0
    assert assistant.index.embedding() == embedding.identity()
    assistant.index.close()


def test_on_a_chroma_server_every_machine_sees_which_model_made_the_vectors(tmp_path, corpus,
                                                                             encoder):
    """Server mode: the identity lives on the server (the registry collection's metadata),
    not only in one machine's cache, so a second machine (a fresh cache) writing with another
    model is refused instead of mixing its vectors into the collection."""
    from assistant.errors import StoreError

    from .chroma_server import chroma_server

    with chroma_server(tmp_path / "server") as url:
        first = Assistant(make_settings(tmp_path / "a", chroma_url=url, collection="shared"),
                          encoder=encoder)
        _ingest(first, [corpus])
        assert first.index.backend.chroma.embedding() == encoder.identity
        n = first.index.count()
        first.index.close()

        other = Assistant(make_settings(tmp_path / "b", chroma_url=url, collection="shared"),
                          encoder=Hashed48())
        assert other.index.embedding() == encoder.identity  # its cache never recorded one
        with pytest.raises(StoreError, match="another model") as failed:
            _ingest(other, [corpus])
        assert "\n" not in str(failed.value)
        other.index.close()

        same = Assistant(make_settings(tmp_path / "c", chroma_url=url, collection="shared"),
                         encoder=encoder)
        report = _ingest(same, [corpus])
        assert report.sentences_reembedded == 0 and report.sentences_embedded == 0
        assert same.index.count() == n
        same.index.close()
