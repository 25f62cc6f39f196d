"""Test helpers shared by more than one test folder (a folder's own helpers stay beside it).

One module per thing:

- ``last_turn``: a guard that, like Llama Guard, judges the last turn only;
- ``planted``: a trigger planted in content, and a guard that finds it in any turn;
- ``judged``: what a guard was shown, and every string a tool received;
- ``properties``: hypothesis settings for properties that drive whole pipelines;
- ``raw_http``: a loopback server answering what a test says (malformed bodies, odd scores);
- ``guarded_graph``: the LangGraph graph the LlamaGuardNode tests guard;
- ``lanes``: what the vLLM and llama.cpp lanes share (the guide, servers, markers);
- ``pypi``: telling "the index is out of reach" from other pip failures.

Fakes of framework objects live in the adapters' public testing modules
(``langchain_llamashield.testing``), where a user could want them too. A package rather than
conftest fixtures: these are imported by modules (and by each other), typed, and some are not
fixtures at all (strategies, constants, context managers).
"""
