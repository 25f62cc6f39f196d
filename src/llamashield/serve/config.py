"""``ServeConfig``: what ``llamashield serve`` runs, from a TOML/JSON file and flags.

Every field has one meaning whether it comes from the file or from a flag; flags win. The
config holds no secrets: API keys come as SHA-256 hashes, or from a file or the environment
(see ``auth.py``), and the backend's key from its usual variable (``TOGETHER_API_KEY``) or
``LLAMASHIELD_BACKEND_API_KEY`` for an OpenAI-compatible server.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamashield._exceptions import NO_BACKEND, ConfigurationError
from llamashield._guard import LlamaGuard
from llamashield._taxonomy import taxonomy_for_model

__all__ = ["OPENAI_MODEL_NAMES", "ServeConfig", "build_guard", "load_config"]

BackendKind = Literal["together", "openai", "transformers", "simulated"]


# OpenAI's moderation model names: accepted as aliases of the served model by default, so a
# client written for OpenAI (LangChain's OpenAIModerationMiddleware defaults to the first one)
# works unchanged; answers name the Llama Guard model that judged.
OPENAI_MODEL_NAMES: tuple[str, ...] = (
    "omni-moderation-latest",
    "omni-moderation-2024-09-26",
    "text-moderation-latest",
    "text-moderation-stable",
)


class ServeConfig(BaseModel):
    """Settings of one replica. Replicas share nothing but the optional Redis cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the guard
    backend: BackendKind | None = None
    model: str | None = None
    base_url: str | None = None
    categories: list[str] | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    on_error: Literal["block", "allow", "raise"] = "block"
    cache: str = "memory"  # "memory", "none", or a redis:// URL shared by replicas
    guard_concurrency: int = Field(default=32, ge=1)
    # the HTTP service
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_key_hashes: list[str] = Field(default_factory=list)
    api_keys_file: Path | None = None
    no_auth: bool = False
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_batch: int = Field(default=32, ge=1)
    max_concurrency: int = Field(default=64, ge=1)
    deadline: float = Field(default=30.0, gt=0)
    model_aliases: list[str] = Field(default_factory=lambda: list(OPENAI_MODEL_NAMES))

    def with_overrides(self, overrides: Mapping[str, Any]) -> ServeConfig:
        """This config with the flags that were given (``None`` means not given)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return _validated({**self.model_dump(), **given})


def load_config(path: Path | None) -> ServeConfig:
    """Read a ``.toml`` or ``.json`` file (its top level, or its ``[serve]`` table)."""
    if path is None:
        return ServeConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the serve config {path}: {exc.strerror}") from None
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold a table of settings")
    settings = dict(data.get("serve", data))
    keys_file = settings.get("api_keys_file")
    if isinstance(keys_file, str) and not Path(keys_file).is_absolute():
        settings["api_keys_file"] = path.parent / keys_file  # beside the config, not the cwd
    return _validated(settings)


def _validated(data: Mapping[str, Any]) -> ServeConfig:
    try:
        return ServeConfig.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid serve settings: {problems}") from None


def build_guard(config: ServeConfig) -> LlamaGuard:
    """The guard the service runs; ``ConfigurationError`` (one line) when no backend is set."""
    from llamashield._cache import VerdictCache

    backend = _backend(config)
    cache: bool | int | VerdictCache
    if config.cache == "memory":
        cache = 100_000
    elif config.cache == "none":
        cache = False
    elif config.cache.startswith(("redis://", "rediss://", "unix://")):
        from llamashield._redis_cache import RedisVerdictCache

        cache = RedisVerdictCache(config.cache)
    else:
        raise ConfigurationError(
            f"cache must be 'memory', 'none' or a redis:// URL, got {config.cache!r}"
        )
    return LlamaGuard(
        backend,
        categories=config.categories,
        threshold=config.threshold,
        on_error=config.on_error,
        # the backend gets most of the deadline; the rest answers with a verdict, not a 504
        timeout=config.deadline * 0.9,
        max_concurrency=config.guard_concurrency,
        cache=cache,
    )


def _backend(config: ServeConfig) -> Any:
    kind = config.backend
    if kind is None:
        if not os.environ.get("TOGETHER_API_KEY"):
            raise ConfigurationError(NO_BACKEND)
        kind = "together"
    if kind == "simulated":
        from llamashield.backends.simulated import SimulatedBackend

        if not config.model:
            return SimulatedBackend()
        return SimulatedBackend(model=config.model, taxonomy=taxonomy_for_model(config.model))
    if kind == "together":
        from llamashield.backends.together import TogetherBackend

        return TogetherBackend(
            model=config.model or "meta-llama/LlamaGuard-2-8b",
            base_url=config.base_url,
            logprobs=config.threshold is not None,
        )
    if kind == "transformers":
        from llamashield.backends.transformers import TransformersBackend

        if not config.model:
            raise ConfigurationError("backend 'transformers' needs model (a folder or model id)")
        return TransformersBackend(model=config.model)
    from llamashield.backends.openai_compatible import OpenAICompatibleBackend

    if not config.base_url or not config.model:
        raise ConfigurationError("backend 'openai' needs base_url and model")
    return OpenAICompatibleBackend(
        base_url=config.base_url,
        model=config.model,
        api_key=os.environ.get("LLAMASHIELD_BACKEND_API_KEY"),
    )
