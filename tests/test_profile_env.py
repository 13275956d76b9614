"""An engine profile's `env` never carries a loader or interpreter variable (security round two, finding 3:
an admin saving a profile must not be able to run code as KITT's user through the engine's process)."""

import pytest

from kitt.engines import profile_env
from kitt.engines.runtime import Launch, launch_env
from kitt.engines.specs import get as get_spec


def test_a_profile_saved_before_the_rule_is_refused_at_launch():
    spec = get_spec("llama_cpp")
    fine = Launch(spec=spec, model_path="/m.gguf", served_name="m", port=8000, env={"GGML_CUDA": "1"})
    assert launch_env(fine)["GGML_CUDA"] == "1"
    for name in ("LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "PYTHONPATH", "PATH", "BASH_ENV"):
        old = Launch(spec=spec, model_path="/m.gguf", served_name="m", port=8000, env={name: "/tmp/x"})
        with pytest.raises(profile_env.RefusedVariable, match=f"may not set {name}"):
            launch_env(old)
