"""What an LM is built with when nothing else is said: the one definition of each default.

`build_lm`, both LM classes, the run config (`GenerateConfig`) and the program's windowing
(`window_chars_for`) all read these, so a default is changed here or nowhere. Standard library
only: the run config imports it without loading DSPy or llama.cpp.
"""

DEFAULT_TEMPERATURE = 0.0  # greedy decoding
DEFAULT_MAX_TOKENS = 2048  # output budget per call, counted against the context window
DEFAULT_SEED = 0
DEFAULT_TIMEOUT = 180.0  # seconds per endpoint request
DEFAULT_NUM_RETRIES = 5  # retries of a transient endpoint fault (429, 5xx, timeout)
# In-process (llama.cpp) models only: penalty on tokens already in the context. SmolLM2-135M at 1.0
# looped into the length cap on a third of its candidates; 1.2 roughly halved its completion tokens
# and raised its valid pairs on data/sample_docs (bench/bench_embedded.py). Endpoints are not sent it.
DEFAULT_REPEAT_PENALTY = 1.2
