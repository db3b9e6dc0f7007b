# Passed to llama-cpp-python's build by packaging/install.py (and by hand, see the README):
#   CMAKE_ARGS="-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/packaging/llama-cpp-minimal.cmake"
#
# CMake runs this file right after llama.cpp's own project() call. llama-cpp-python forces
# LLAMA_BUILD_COMMON on, but the common library (argument parsing, model download, chat
# templates, the HTTP client) is used only by llama.cpp's command-line tools and by mtmd, which
# LLAVA_BUILD=OFF already leaves out; the Python bindings load libllama and libggml alone.
# Skipping it halves the compile (`pip install --no-cache-dir llama-cpp-python==0.3.36` with
# LLAVA_BUILD=OFF on 2 cores: 6 min 15 s -> 3 min 18 s wall, 11.3 -> 5.8 CPU-minutes), and the
# libraries the bindings load are built the same way: the same prompts decode to the same tokens.
# If a later llama.cpp renames the option, this line does nothing and the full build runs.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build the common utils library" FORCE)
