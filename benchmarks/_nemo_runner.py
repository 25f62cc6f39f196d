"""Run NeMo Guardrails' Llama Guard input/output rails against the loopback server.

Runs inside a venv with ``nemoguardrails`` (the benchmark starts it as a child process) and
prints one JSON line: ``{"ms_per_call": ...}``. Arguments: URL GUARD_MODEL CHAT_MODEL QUESTION N
PROMPTS_JSON (the Llama Guard 2 prompts llamashield builds, with NeMo's ``{{ user_input }}`` and
``{{ bot_response }}`` where the messages go, so both guards send the same template).
"""

from __future__ import annotations

import json
import os
import sys
import time

CONFIG = """
models:
  - type: main
    engine: openai
    model: {chat_model}
    parameters:
      base_url: {url}/v1
      api_key: bench
  - type: llama_guard
    engine: vllm_openai
    parameters:
      openai_api_base: {url}/v1
      model_name: {guard_model}
rails:
  input:
    flows:
      - llama guard check input
  output:
    flows:
      - llama guard check output
prompts:
  - task: llama_guard_check_input
    content: |
{check_input}
  - task: llama_guard_check_output
    content: |
{check_output}
"""


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


def main() -> None:
    url, guard_model, chat_model, question, calls, prompts_file = sys.argv[1:7]
    with open(prompts_file) as f:
        prompts = json.load(f)
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    # NeMo's documented vLLM setup: Llama Guard prompts go to /v1/completions as raw text
    # (its 0.24 default sends them as a chat message, which a chat template would wrap again).
    os.environ.setdefault("NEMOGUARDRAILS_LLM_FRAMEWORK", "langchain")
    from nemoguardrails import LLMRails, RailsConfig

    yaml = CONFIG.format(
        url=url,
        guard_model=guard_model,
        chat_model=chat_model,
        check_input=_indent(prompts["input"]),
        check_output=_indent(prompts["output"]),
    )
    rails = LLMRails(RailsConfig.from_content(yaml_content=yaml))
    messages = [{"role": "user", "content": question}]
    for _ in range(5):
        answer = rails.generate(messages=messages)
    started = time.perf_counter()
    for _ in range(int(calls)):
        answer = rails.generate(messages=messages)
    elapsed = (time.perf_counter() - started) / int(calls)
    print(json.dumps({"ms_per_call": elapsed * 1000, "answer": answer}))


if __name__ == "__main__":
    main()
