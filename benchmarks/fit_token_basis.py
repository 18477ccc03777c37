"""Fit the projection of MiniLM's token states kept for the token-alignment feature.

    python benchmarks/fit_token_basis.py ../shared/eval/dev.jsonl

Splits every document of the file into sentences, runs the model, and keeps the first
TOKEN_DIMS principal directions of the unit-length token states (no questions, no labels: only
the documents' text). Writes assistant/data/token-basis.npy, shape (384, TOKEN_DIMS). After
refitting, re-ingest (stored token states use the old basis) and refit the ranker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant import evaluate as ev  # noqa: E402
from assistant.documents import make_document  # noqa: E402
from assistant.embedding import DIMENSIONS, TOKEN_BASIS_FILE, TOKEN_DIMS, Encoder  # noqa: E402
from assistant.sentences import split_document  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    args = ap.parse_args()
    items = ev.load_items(args.file)
    docs = {it.doc_id: make_document(path=it.doc_id, text=it.document, title=it.title)
            for it in items}
    texts = [s.text for d in docs.values() for s in split_document(d)]
    encoder = Encoder(basis=np.eye(DIMENSIONS, dtype=np.float32))  # unit-length raw states
    states = [encoder.encode_question(t)[1] for t in texts]
    x = np.vstack(states)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    basis = vt[:TOKEN_DIMS].T.astype(np.float32)
    np.save(TOKEN_BASIS_FILE, basis)
    print(f"{len(texts)} sentences, {len(x)} token states -> {TOKEN_BASIS_FILE} {basis.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
