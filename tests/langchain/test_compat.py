"""The LangChain shim (_compat.py): each private reach still finds what it needs."""

from __future__ import annotations

import importlib.metadata

from langchain_core.callbacks import StreamingStdOutCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.tracers.log_stream import LogStreamCallbackHandler
from langchain_llamashield import _compat
from langchain_llamashield._child_callbacks import _feeds_live_tokens


def test_checked_versions_are_the_installed_ones_or_the_shim_still_works() -> None:
    for package, checked in _compat.CHECKED_WITH.items():
        installed = importlib.metadata.version(package)
        # A newer release is fine as long as the tests below pass; the note says what was read.
        assert installed.split(".")[0] == checked.split(".")[0], (package, installed)


def test_streaming_handler_types_are_found() -> None:
    assert _compat.STREAMING_HANDLER_TYPES  # the astream_events/astream_log handlers
    assert _feeds_live_tokens(LogStreamCallbackHandler())
    assert _feeds_live_tokens(StreamingStdOutCallbackHandler())


def test_the_wrapped_models_identity_is_read() -> None:
    model = FakeListChatModel(responses=["x"])
    assert _compat.llm_type(model) == "fake-list-chat-model"
    assert isinstance(_compat.identifying_params(model), dict)
    assert _compat.ls_params(model, None)["ls_model_type"] == "chat"
