"""Which environment variables an engine profile may set.

A profile is data an admin saves (over the API, too), but its `env` reaches the engine's process: a
variable that makes the loader or an interpreter run other code (`LD_PRELOAD`, `PYTHONSTARTUP`, `PATH`)
would make saving a profile the same as running code as KITT's user. Those are refused when the profile is
saved and again when an engine is launched (for a profile saved before this rule).
"""

REFUSED_PREFIXES = ("LD_", "DYLD_", "PYTHON")
REFUSED_NAMES = frozenset(
    {"PATH", "BASH_ENV", "ENV", "NODE_OPTIONS", "PERL5OPT", "PERL5LIB", "RUBYOPT", "GCONV_PATH"}
    | {"HOSTALIASES", "LOCPATH", "NLSPATH"}
)


class RefusedVariable(ValueError):
    pass


def refused(env: dict[str, str]) -> list[str]:
    """The names in `env` a profile may not set, sorted."""
    return sorted(
        name for name in env if name.upper().startswith(REFUSED_PREFIXES) or name.upper() in REFUSED_NAMES
    )


def check(env: dict[str, str]) -> None:
    found = refused(env)
    if found:
        raise RefusedVariable(
            f"an engine profile may not set {', '.join(found)}: loader and interpreter variables run code "
            "(set them in KITT's own environment if the engine needs them)"
        )
