"""Where a store's files are: the catalog (and beside it the write lock and the write-in-progress
marker) inside an embedded index folder, or in a cache folder for a Chroma server; and the one
clear error for an `--index` that cannot be an index."""

from __future__ import annotations

import hashlib
from pathlib import Path

from assistant.config import Settings
from assistant.errors import StoreError


def catalog_path(settings: Settings) -> Path:
    """Embedded: inside the index folder. Server: a cache folder named after the URL."""
    if not settings.chroma_url:
        return settings.index_dir / "catalog.sqlite3"
    key = hashlib.sha1(f"{settings.chroma_url}|{settings.collection}".encode()).hexdigest()[:16]
    return settings.data_dir / "server-cache" / f"{key}.sqlite3"


def check_index(settings: Settings, create: bool) -> None:
    """One clear line for an `--index` that cannot be an index: a file or a device, or (for
    `ask` and `cite`, `create=False`) a folder that holds no index (a mistyped name must not
    leave an empty index behind)."""
    if settings.chroma_url:
        return
    folder = settings.index_dir
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"the index {folder} is not a folder: give --index a folder "
                         "(ingest creates it)")
    if not create and not catalog_path(settings).is_file():
        what = "does not exist" if not folder.exists() else "holds no index"
        raise StoreError(f"the index folder {folder} {what}: check the --index name, or run "
                         f"`assistant ingest --index {folder} PATH` to create it")
