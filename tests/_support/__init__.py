"""Test helpers shared by more than one test folder (a folder's own helpers stay beside it).

One module per thing: ``last_turn`` (a guard that, like Llama Guard, judges the last turn
only), ``planted`` (a trigger planted in content, and a guard that finds it anywhere),
``judged`` (what a guard was shown, what a tool received), ``properties`` (hypothesis settings
for properties that drive whole pipelines). Fakes of framework objects live in
the adapters' public testing modules (``langchain_llamashield.testing``), where a user could
want them too.
"""
