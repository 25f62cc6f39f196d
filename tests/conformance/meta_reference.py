"""Meta's own prompt builders, loaded from the pinned wheels on PyPI, for the conformance tests.

``pip download --no-deps`` fetches the three wheels once into a cache folder (default
``~/.cache/llamashield/meta-wheels``; ``LLAMASHIELD_META_WHEELS`` overrides it) and later runs
reuse them. Nothing is installed: the few files needed are imported straight from the wheel
(a zip) under private module names, and the heavy imports they make but never use on the text
path (torch, PIL, torchvision; llama-stack's server modules) are stubbed while they load.

* ``llama-cookbook`` 0.0.5.post1 ``llama_cookbook/inference/prompt_format_utils.py``: the
  Llama Guard 1 and 2 templates and category texts, and ``build_custom_prompt``.
* ``llama-models`` 0.3.0 ``llama_models/llama3`` and ``llama4``: ``ChatFormat`` (the dialog
  encoder Meta's inference uses) and the tiktoken ``Tokenizer`` with its ``tokenizer.model``.
* ``llama-stack`` 0.7.3 ``providers/inline/safety/llama_guard/llama_guard.py``: the Llama
  Guard 3/4 user message (``LlamaGuardShield.build_prompt``), categories per model id, and
  ``excluded_categories``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import socket
import subprocess
import sys
import types
import urllib.parse
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests._support.pypi import said_unreachable

PINNED = {
    "llama-cookbook": "0.0.5.post1",
    "llama-models": "0.3.0",
    "llama-stack": "0.7.3",
}


class PyPIUnreachable(Exception):
    """pip could not reach the package index."""


def _index_url() -> str:
    configured = os.environ.get("PIP_INDEX_URL")
    if not configured:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        configured = done.stdout.strip() if done.returncode == 0 else ""
    return configured or "https://pypi.org/simple"


def _index_unreachable() -> str:
    """Why pip's index cannot be reached (a failed TCP connect), or "" when it can."""
    url = urllib.parse.urlsplit(_index_url())
    if url.scheme not in ("http", "https") or not url.hostname:
        return ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=10):
            return ""
    except OSError as exc:
        return f"cannot connect to {url.hostname}:{port} ({exc})"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "llamashield" / "meta-wheels"
    return Path(os.environ.get("LLAMASHIELD_META_WHEELS") or default)


def _wheel_name(dist: str, version: str) -> str:
    return f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"


def download_wheels(folder: Path | None = None) -> dict[str, Path]:
    """The pinned wheels, downloaded once (``PyPIUnreachable`` when the index is out of reach)."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wheels = {dist: folder / _wheel_name(dist, v) for dist, v in PINNED.items()}
    missing = [f"{dist}=={PINNED[dist]}" for dist, path in wheels.items() if not path.is_file()]
    if missing:
        # llama-stack 0.7 declares Python >= 3.12; its wheel is pure Python and only one file
        # of it is read, so it is fetched for 3.12 whatever runs the tests.
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.12", "--disable-pip-version-check", "-d", str(folder),
                   *missing]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            pip_unreachable = said_unreachable(output)
            reason = _index_unreachable()
            if pip_unreachable or reason:
                last = output.strip().splitlines()[-1] if output.strip() else ""
                raise PyPIUnreachable(reason or last)
            raise RuntimeError(f"pip download {' '.join(missing)} failed:\n{output[-3000:]}")
    absent = [str(p) for p in wheels.values() if not p.is_file()]
    if absent:
        raise RuntimeError(f"pip download did not produce {absent}")
    return wheels


class _Anything:
    """A permissive stand-in: any attribute, call, subscript or base class works."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        return self

    def __getitem__(self, item: Any) -> Any:
        return self


class _StubModule(types.ModuleType):
    """A module whose every attribute is a fresh class (so several can be bases of one class)."""

    def __init__(self, name: str, **attrs: Any) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self.__dict__.update(attrs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        stub = type(name, (_Anything,), {})
        setattr(self, name, stub)
        return stub


class _WheelFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``<alias>.<module>`` from ``<root>/<module>.py`` inside a wheel."""

    def __init__(self, alias: str, wheel: zipfile.ZipFile, root: str) -> None:
        self.alias, self.wheel, self.root = alias, wheel, root
        self.names = set(wheel.namelist())

    def _path(self, fullname: str) -> tuple[str, bool] | None:
        if fullname != self.alias and not fullname.startswith(self.alias + "."):
            return None
        inner = fullname[len(self.alias) :].lstrip(".").replace(".", "/")
        base = f"{self.root}/{inner}".rstrip("/")
        if f"{base}.py" in self.names:
            return f"{base}.py", False
        if any(n.startswith(base + "/") for n in self.names):
            return base, True  # a folder: an empty package (its __init__ is never run)
        return None

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        found = self._path(fullname)
        if found is None:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=found[1])
        spec.origin = f"{self.wheel.filename}!{found[0]}"
        return spec

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        found = self._path(module.__name__)
        assert found is not None
        inner, is_package = found
        if is_package:
            module.__path__ = []
            return
        source = self.wheel.read(inner).decode("utf-8")
        exec(compile(source, str(module.__spec__.origin), "exec"), module.__dict__)  # type: ignore[union-attr]


@contextmanager
def _stubbed(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """Put stub modules in ``sys.modules`` for the duration of an import, where none is loaded."""
    added = [name for name in modules if name not in sys.modules]
    for name in added:
        sys.modules[name] = modules[name]
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _heavy_stubs() -> dict[str, types.ModuleType]:
    torchvision = _StubModule("torchvision")
    transforms = _StubModule("torchvision.transforms")
    functional = _StubModule("torchvision.transforms.functional")
    transforms.functional = functional  # type: ignore[attr-defined]
    torchvision.transforms = transforms  # type: ignore[attr-defined]
    pil = _StubModule("PIL")
    image = _StubModule("PIL.Image")
    pil.Image = image  # type: ignore[attr-defined]
    return {
        "torch": _StubModule("torch"),
        "PIL": pil,
        "PIL.Image": image,
        "torchvision": torchvision,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
    }


def _interleaved_content_as_str(content: Any, sep: str = " ") -> str:
    # llama-stack's own function returns a str content unchanged; the tests pass only str.
    if not isinstance(content, str):
        raise TypeError("the conformance tests pass text content only")
    return content


def _stack_stubs() -> dict[str, types.ModuleType]:
    names = ["llama_stack", "llama_stack.core", "llama_stack.core.datatypes", "llama_stack.log",
             "llama_stack.providers", "llama_stack.providers.utils",
             "llama_stack.providers.utils.inference", "llama_stack_api"]  # fmt: skip
    stubs: dict[str, types.ModuleType] = {name: _StubModule(name) for name in names}
    stubs["llama_stack.providers.utils.inference.prompt_adapter"] = _StubModule(
        "llama_stack.providers.utils.inference.prompt_adapter",
        interleaved_content_as_str=_interleaved_content_as_str,
    )
    return stubs


@dataclass
class Meta:
    """Handles on Meta's modules and tokenizers."""

    cookbook: types.ModuleType  # prompt_format_utils
    stack: types.ModuleType  # llama_guard provider
    datatypes: types.ModuleType  # llama_models.datatypes (RawMessage)
    chat3: Any  # llama3 ChatFormat(tokenizer)
    chat4: Any  # llama4 ChatFormat(tokenizer)
    tokenizer3: Any
    tokenizer4: Any

    # -- Llama Guard 3 / 4: llama-stack's user message in llama-models' chat format ---------

    def stack_message(
        self,
        turns: Sequence[tuple[str, str]],
        model_id: str,
        excluded: Sequence[str] = (),
    ) -> str:
        """llama-stack's Llama Guard user message for ``(role, text)`` turns.

        llama-stack labels a turn with ``role.capitalize()``; its shields see user messages,
        and the Llama Guard templates (cookbook, model cards) call the other side ``Agent``,
        so agent turns are passed with the role ``agent`` (see test_meta_prompts.py).
        """
        categories = self.stack.MODEL_TO_SAFETY_CATEGORIES_MAP[
            self.stack.LLAMA_GUARD_MODEL_IDS[model_id]
        ]
        shield = self.stack.LlamaGuardShield(
            model=model_id,
            inference_api=None,
            excluded_categories=list(excluded),
            safety_categories=categories,
        )
        messages = [types.SimpleNamespace(role=role, content=text) for role, text in turns]
        return str(shield.build_prompt(messages))

    def dialog_tokens(self, content: str, generation: int) -> list[int]:
        """``ChatFormat.encode_dialog_prompt`` of one user message, as Meta's inference runs."""
        chat = self.chat3 if generation == 3 else self.chat4
        message = self.datatypes.RawMessage(role="user", content=content)
        return list(chat.encode_dialog_prompt([message]).tokens)

    def tokenizer(self, generation: int) -> Any:
        return self.tokenizer3 if generation == 3 else self.tokenizer4

    def server_tokens(self, wire_prompt: str, generation: int) -> list[int]:
        """What a server feeds the model for a raw prompt: its BOS, then the text's tokens
        with special-token text read as special tokens (vLLM's ``/v1/completions``)."""
        tok = self.tokenizer(generation)
        return list(tok.encode(wire_prompt, bos=True, eos=False, allowed_special="all"))


def load(wheels: dict[str, Path]) -> Meta:
    """Import Meta's modules from the wheels (once per process)."""
    cached = sys.modules.get("_ls_meta_loaded")
    if cached is not None:
        return cached.meta  # type: ignore[no-any-return]
    cookbook_zip = zipfile.ZipFile(wheels["llama-cookbook"])
    models_zip = zipfile.ZipFile(wheels["llama-models"])
    stack_zip = zipfile.ZipFile(wheels["llama-stack"])
    finders = [
        _WheelFinder("_ls_meta_cookbook", cookbook_zip, "llama_cookbook"),
        _WheelFinder("_ls_meta_models", models_zip, "llama_models"),
        _WheelFinder(
            "_ls_meta_stack", stack_zip, "llama_stack/providers/inline/safety/llama_guard"
        ),
    ]
    sys.meta_path[:0] = finders
    try:
        with _stubbed({**_heavy_stubs(), **_stack_stubs()}):
            import importlib

            cookbook = importlib.import_module("_ls_meta_cookbook.inference.prompt_format_utils")
            stack = importlib.import_module("_ls_meta_stack.llama_guard")
            datatypes = importlib.import_module("_ls_meta_models.datatypes")
            tok3_mod = importlib.import_module("_ls_meta_models.llama3.tokenizer")
            chat3_mod = importlib.import_module("_ls_meta_models.llama3.chat_format")
            tok4_mod = importlib.import_module("_ls_meta_models.llama4.tokenizer")
            chat4_mod = importlib.import_module("_ls_meta_models.llama4.chat_format")
    finally:
        for finder in finders:
            sys.meta_path.remove(finder)
    folder = Path(wheels["llama-models"]).parent
    tokenizers = []
    for generation in (3, 4):
        path = folder / f"llama-models-{PINNED['llama-models']}-llama{generation}.tokenizer.model"
        if not path.is_file():
            data = models_zip.read(f"llama_models/llama{generation}/tokenizer.model")
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        tokenizers.append(path)
    tokenizer3 = tok3_mod.Tokenizer(tokenizers[0])
    tokenizer4 = tok4_mod.Tokenizer(tokenizers[1])
    meta = Meta(
        cookbook=cookbook,
        stack=stack,
        datatypes=datatypes,
        chat3=chat3_mod.ChatFormat(tokenizer3),
        chat4=chat4_mod.ChatFormat(tokenizer4),
        tokenizer3=tokenizer3,
        tokenizer4=tokenizer4,
    )
    marker = types.ModuleType("_ls_meta_loaded")
    marker.meta = meta  # type: ignore[attr-defined]
    sys.modules["_ls_meta_loaded"] = marker
    return meta
