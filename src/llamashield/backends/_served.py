"""What a local server really does with a guard's request, learned at first use. Sans-IO.

Read from the servers' source (see docs/serving.md):

* **Ollama** answers ``GET /api/version``. Its ``/v1/completions`` never sets ``raw``, so the
  prompt is rendered through the model's template a second time (ollama/ollama
  ``openai/openai.go`` ``FromCompleteRequest``): completions mode there is refused.
* **llama.cpp's ``llama-server``** answers ``GET /props`` (``default_generation_settings.n_ctx``:
  the context of a slot; ``bos_token``) and ``POST /tokenize`` (``add_special`` adds BOS as
  ``/v1/completions`` does, per the GGUF's ``add_bos_token``). A 400 for a long prompt names
  the context: "request (N tokens) exceeds the available context size (C tokens)".
* **llama-cpp-python's ``llama_cpp.server``** has ``POST /extras/tokenize`` (BOS added as its
  completions add it) and reports no context size; its 400 names it: "Requested tokens (N)
  exceed context window of C". Its default context is 2,048 tokens.
* **vLLM** lists ``max_model_len`` in ``GET /v1/models`` and tokenises with ``POST /tokenize``;
  its 400 says "maximum context length is C tokens".

The probe learns the server's kind, its context and how many BOS tokens it adds; ``fit``
splits a conversation whose prompt would not fit into windows that do, and
``combine_answers`` joins their answers (unsafe if any window is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from llamashield._chunking import split_long_turn
from llamashield._exceptions import ConfigurationError
from llamashield._prompts import BOS_TEXT
from llamashield.backends._base import BackendAnswer, GuardRequest
from llamashield.backends._exchange import Call, Exchange, json_of

# A conservative 3 characters a token (English text runs ~4.5 in Llama 3's tokenizer); a window
# that still overflows is halved when the server says so.
CHARS_PER_TOKEN = 3
MIN_WINDOW_CHARS = 400
SERVER_FLAGS = (
    "llama-server -c 8192; python -m llama_cpp.server --n_ctx 8192; vLLM --max-model-len 8192"
)
_CONTEXT_IN_ERROR = re.compile(
    r"context window of (\d+)|context size \((\d+) tokens\)|maximum context length is (\d+)"
    r"|larger than the max context size \((\d+) tokens\)",
    re.I,
)


@dataclass
class Served:
    """What the probe learned; None where the server did not say."""

    kind: str = "unknown"  # "ollama", "llama.cpp", "llama-cpp-python", "vllm", "unknown"
    context: int | None = None  # tokens a request may hold, prompt and answer together
    bos_text: str = ""  # what completions prompts start with so that exactly one BOS reaches
    chat_template: str | None = None
    squeeze: int = 1  # windows are divided by this after a window overflowed all the same


def context_from_error(text: str) -> int | None:
    """The context size a server names in its 400 for a prompt that is too long."""
    match = _CONTEXT_IN_ERROR.search(text)
    if match is None:
        return None
    return int(next(g for g in match.groups() if g))


def probe(
    root: str, v1: str, model: str, *, completions: bool, generation: int
) -> Exchange[Served | None]:
    """Ask the server what it is (None: it could not be reached; probe again next time)."""
    version = yield Call("GET", f"{root}/api/version", probe=True)
    if version is None:
        return None
    answer = json_of(version)
    if isinstance(answer, dict) and isinstance(answer.get("version"), str):
        return Served(kind="ollama")
    served = Served()
    props = json_of((yield Call("GET", f"{root}/props", probe=True)))
    if isinstance(props, dict) and "default_generation_settings" in props:
        served.kind = "llama.cpp"
        settings = props.get("default_generation_settings") or {}
        served.context = _positive(settings.get("n_ctx") if isinstance(settings, dict) else None)
        template = props.get("chat_template")
        served.chat_template = template if isinstance(template, str) else None
    models = json_of((yield Call("GET", f"{v1}/models", probe=True)))
    entries = models.get("data") if isinstance(models, dict) else None
    entry = entries[0] if isinstance(entries, list) and entries else None
    if isinstance(entry, dict):
        meta = entry.get("meta")
        if served.context is None and isinstance(meta, dict):
            served.context = _positive(meta.get("n_ctx"))
        if entry.get("max_model_len") is not None:
            served.kind, served.context = "vllm", _positive(entry.get("max_model_len"))
        elif served.kind == "unknown" and entry.get("owned_by") == "me":
            served.kind = "llama-cpp-python"
    if completions:
        bos = "<s>" if generation == 1 else BOS_TEXT
        if isinstance(props, dict) and isinstance(props.get("bos_token"), str):
            bos = props["bos_token"] or bos
        served.bos_text = yield from _verify_bos(served.kind, root, model, bos)
    return served


def _verify_bos(kind: str, root: str, model: str, bos: str) -> Exchange[str]:
    """``""`` when the server adds exactly one BOS to a completions prompt, ``bos`` when it adds
    none and the text must carry it; anything else is a ``ConfigurationError``."""
    tokenize = _TOKENIZERS.get(kind)
    if tokenize is None:
        return ""  # no tokenizer endpoint: Meta's convention (the server adds one) is assumed
    path, body = tokenize(root, model, "")
    added = _tokens(json_of((yield Call("POST", path, body, probe=True))))
    if added is None or len(added) == 1:
        return ""
    if len(added) > 1:
        raise ConfigurationError(
            f"the {kind} server adds {len(added)} special tokens to every completions prompt "
            f"({added}), where Llama Guard expects one BOS: fix the model's tokenizer metadata "
            "(add_bos_token / add_eos_token) or use mode='chat'"
        )
    path, body = tokenize(root, model, bos)
    spelled = _tokens(json_of((yield Call("POST", path, body, probe=True))))
    if spelled is not None and len(spelled) == 1:
        return bos  # the GGUF says add_bos_token=false: the prompt text carries the one BOS
    raise ConfigurationError(
        f"the {kind} server adds no BOS to completions prompts (the model's add_bos_token is "
        f"false) and does not read {bos!r} as one token: Llama Guard would see no BOS. Convert "
        "the model with add_bos_token=true, or use mode='chat'"
    )


def _llama_cpp(root: str, model: str, text: str) -> tuple[str, dict[str, object]]:
    return f"{root}/tokenize", {"content": text, "add_special": True, "parse_special": True}


def _llama_cpp_python(root: str, model: str, text: str) -> tuple[str, dict[str, object]]:
    return f"{root}/extras/tokenize", {"input": text}


def _vllm(root: str, model: str, text: str) -> tuple[str, dict[str, object]]:
    return f"{root}/tokenize", {"model": model, "prompt": text}


_TOKENIZERS = {"llama.cpp": _llama_cpp, "llama-cpp-python": _llama_cpp_python, "vllm": _vllm}


def _tokens(answer: object) -> list[int] | None:
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    if not isinstance(tokens, list):
        return None
    ids = [t.get("id") if isinstance(t, dict) else t for t in tokens]
    return ids if all(isinstance(i, int) for i in ids) else None  # type: ignore[return-value]


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


# -- windows that fit the served context ---------------------------------------------------


def window_chars(request: GuardRequest, context: int, max_tokens: int) -> int:
    """The longest last turn (in characters) whose prompt fits ``context`` tokens.

    Raises ``ConfigurationError`` when the context cannot hold the policy and a useful window.
    """
    conversation_chars = sum(len(t.content) for t in request.conversation)
    policy_chars = len(request.completion_prompt) - conversation_chars
    room = context - max_tokens - 8 - -(-policy_chars // CHARS_PER_TOKEN)
    window = room * CHARS_PER_TOKEN * 4 // 5  # earlier turns get a quarter of a window each
    if window < MIN_WINDOW_CHARS:
        raise ConfigurationError(
            f"the server serves a context of {context} tokens: too small for a Llama Guard "
            f"prompt ({policy_chars:,} characters of policy) and a useful window of the "
            f"conversation. Restart it with a larger context ({SERVER_FLAGS})"
        )
    return window


def fit(request: GuardRequest, window: int) -> list[GuardRequest]:
    """``request`` as one or more requests whose last turns are at most ``window`` long."""
    if sum(len(t.content) for t in request.conversation) <= window:
        return [request]
    parts = split_long_turn(request.conversation, window, min(500, window // 4))
    return [replace(request, conversation=part) for part in parts]


def combine_answers(answers: list[BackendAnswer], request: GuardRequest) -> BackendAnswer:
    """One answer for a conversation judged in windows: unsafe if any window is (its codes,
    in taxonomy order), P(unsafe) the highest; an unreadable answer is passed on as is."""
    if len(answers) == 1:
        return answers[0]
    scores = [a.score for a in answers if a.score is not None]
    score = max(scores) if len(scores) == len(answers) else None
    first_lines = [a.text.strip().split("\n", 1)[0].strip().lower() for a in answers]
    unsafe = [a for a, line in zip(answers, first_lines, strict=True) if line == "unsafe"]
    if unsafe:
        codes: list[str] = []
        for answer in unsafe:
            lines = answer.text.strip().split("\n")
            listed = lines[1].split(",") if len(lines) > 1 else []
            codes += [c.strip() for c in listed if c.strip() and c.strip() not in codes]
        order = request.taxonomy.codes
        codes.sort(key=lambda c: order.index(c) if c in order else len(order))
        text = "unsafe" + ("\n" + ",".join(codes) if codes else "")
        return BackendAnswer(text, score, unsafe[0].model)
    for answer, line in zip(answers, first_lines, strict=True):
        if line != "safe":
            return answer
    return BackendAnswer(answers[0].text, score, answers[0].model)


# -- chat replies that are not verdicts ------------------------------------------------------


def continues_judged_turn(text: str, request: GuardRequest, kind: str) -> bool:
    """Whether a chat reply is the judged Agent turn carried on, not a verdict: what
    ``llama-server`` does by default with a trailing assistant message (``--prefill-assistant``:
    the template leaves the turn open and the model writes on from it). A reply that is no
    verdict and starts with the judged text, or any such reply from llama-server, counts."""
    if request.role != "agent":
        return False
    reply = text.strip()
    if reply.split("\n", 1)[0].strip().lower() in ("safe", "unsafe"):
        return False
    judged = request.conversation[-1].content.strip()
    head = judged[: min(len(judged), 24)]
    return kind == "llama.cpp" or (bool(head) and reply.startswith(head))


PREFILL_MESSAGE = (
    "the server continued the judged Agent turn instead of judging it: llama.cpp's "
    "llama-server prefills a trailing assistant message by default, so the model writes on "
    "from the answer under review. Start llama-server with --no-prefill-assistant, or use "
    "mode='completions' (llamashield's own prompt)"
)
