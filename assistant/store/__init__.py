"""The sentence store: sentence vectors in a Chroma collection (embedded on disk, or a Chroma
server) written through LlamaIndex, and the local catalog (catalog.py: spans, text, vectors,
BM25). `SentenceIndex` (index.py) is the one interface the rest of the program uses; behind it
one `Backend` (backend.py) of two, chosen once from the settings: embedded.py (the catalog is
the commit point, Chroma a derived copy) or server.py (the server's registry is the commit
point, the catalog a cache). chroma.py talks to Chroma, layout.py says where the files are,
repair.py rebuilds a damaged catalog from Chroma."""

from assistant.store.backend import Backend
from assistant.store.chroma import CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S, ChromaStore, check_server
from assistant.store.index import SentenceIndex
from assistant.store.layout import catalog_path, check_index
from assistant.store.repair import rebuild_catalog

__all__ = [
    "CONNECT_TIMEOUT_S", "REQUEST_TIMEOUT_S", "Backend", "ChromaStore", "SentenceIndex",
    "catalog_path", "check_index", "check_server", "rebuild_catalog",
]
