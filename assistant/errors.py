"""Domain errors. Their message is written for the user; the CLI and UI show it as is."""


class AssistantError(Exception):
    """Base class: anything the user can act on."""


class InputError(AssistantError):
    """A document or argument that cannot be used (missing, empty, binary, ...)."""


class EmptyQuestionError(AssistantError):
    """The question is empty or whitespace."""


class EmptyIndexError(AssistantError):
    """The index holds no sentences yet."""


class StoreError(AssistantError):
    """The vector store cannot be opened, reached or written."""


class StoreBusyError(StoreError):
    """Another process holds the store for writing."""


class ConfigError(AssistantError):
    """A setting has a value that cannot be used."""


class LLMError(AssistantError):
    """The language model endpoint failed in a way the user must fix or wait out."""


class ModelError(AssistantError):
    """A model file the assistant ships with is missing or cannot be loaded."""
