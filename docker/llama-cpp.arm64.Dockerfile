# KITT-managed llama.cpp server for ARM64 boards with NVIDIA GPUs (DGX Spark, Jetson Orin).
# Upstream publishes no ARM64 CUDA server image; this builds llama-server from source.
# Built by `kitt engines setup llama_cpp` (or `kitt run --auto-pull`) as kitt/llama-cpp:arm64.
FROM nvcr.io/nvidia/cuda:13.0.1-devel-ubuntu24.04 AS build
RUN apt-get update && apt-get install -y --no-install-recommends git cmake build-essential ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ARG LLAMA_CPP_REF=master
RUN git clone --depth 1 --branch ${LLAMA_CPP_REF} https://github.com/ggml-org/llama.cpp /src
WORKDIR /src
RUN cmake -B build -DGGML_CUDA=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DCMAKE_CUDA_ARCHITECTURES="87;121" \
    && cmake --build build --target llama-server -j"$(nproc)"

FROM nvcr.io/nvidia/cuda:13.0.1-runtime-ubuntu24.04
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/bin/ /opt/llama/
ENV LD_LIBRARY_PATH=/opt/llama
ENTRYPOINT ["/opt/llama/llama-server"]
