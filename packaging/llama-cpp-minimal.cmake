# Passed to llama-cpp-python's build by packaging/install.py (and by hand, see the README):
#   CMAKE_ARGS="-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=<checkout>/packaging/llama-cpp-minimal.cmake"
#
# CMake runs this file right after llama.cpp's own project() call. It trims the compile twice,
# and the libraries the Python bindings load decode the same prompts to the same tokens.
#
# 1. llama-cpp-python forces LLAMA_BUILD_COMMON on, but the common library (argument parsing,
#    model download, chat templates, the HTTP client) is used only by llama.cpp's command-line
#    tools and by mtmd, which LLAVA_BUILD=OFF already leaves out; the bindings load libllama and
#    libggml alone. Skipping it halves the compile (`pip install --no-cache-dir
#    llama-cpp-python==0.3.36` with LLAVA_BUILD=OFF on 2 cores: 6 min 15 s -> 3 min 18 s wall,
#    11.3 -> 5.8 CPU-minutes). If a later llama.cpp renames the option, this line does nothing.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama.cpp: build the common utils library" FORCE)

# 2. libllama's model loading, graph building and bookkeeping are compiled at -O1 instead of -O3
#    (libllama 226 -> 174 CPU-seconds on 2 cores). The code that runs for every token and every
#    candidate token keeps -O3: the grammar that holds decoding to a JSON schema, the samplers,
#    the vocabulary and its unicode tables (a profile of decoding with all of libllama at -O1 put
#    a fifth of the time in the grammar's candidate filtering). libggml, where the matrix and
#    attention kernels spend most of the decoding time, keeps -O3 as well. Decoding speed: within
#    this machine's noise of -O3 (bench/bench_decode.py, medians of 3 interleaved runs: 46.9 s
#    -O3, 46.2 s this way; the same tokens).
#    The call is deferred to the end of llama.cpp's directory, where the target exists.
function(sdg_program_compile_libllama_at_o1)
  if(TARGET llama AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(llama PRIVATE -O1)
    get_target_property(llama_source_dir llama SOURCE_DIR)
    set_source_files_properties(
      "${llama_source_dir}/llama-grammar.cpp" "${llama_source_dir}/llama-sampler.cpp"
      "${llama_source_dir}/llama-vocab.cpp" "${llama_source_dir}/unicode.cpp"
      DIRECTORY "${llama_source_dir}" PROPERTIES COMPILE_OPTIONS -O3)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" CALL sdg_program_compile_libllama_at_o1)
