"""Run NeMo Guardrails' Llama Guard input/output rails against the loopback server.

Runs inside a venv with ``nemoguardrails`` (the benchmark starts it as a child process) and
prints one JSON line: ``{"ms_per_call": ...}``. Arguments: URL GUARD_MODEL CHAT_MODEL QUESTION N.
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
"""


def main() -> None:
    url, guard_model, chat_model, question, calls = sys.argv[1:6]
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    from nemoguardrails import LLMRails, RailsConfig

    yaml = CONFIG.format(url=url, guard_model=guard_model, chat_model=chat_model)
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
