"""A real (tiny) model behind the real CLIs: llama.cpp's `llama-server` serving SmolLM2-135M.

Opt-in: `setup` builds the server and unpacks the model into ``.cache/llama/`` once; `llama`
starts the server on 127.0.0.1; `clis` points claude, codex, the openai CLI and llm at it;
`section` is the benchmark section ``realmodel`` (``python -m benchmarks --only realmodel``);
tests/realmodel/ is the test env (``tox -e realmodel``). Nothing here runs in the default suite
or the default benchmark run.
"""
