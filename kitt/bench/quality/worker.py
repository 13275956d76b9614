"""The evaluation worker: one lm-eval run in its own process (`python -m kitt.bench.quality.worker`).

It reads a `Job` (JSON) on stdin, writes the task files for a built-in benchmark, runs
`lm_eval.simple_evaluate` against the engine's completions endpoint, and writes an `Evaluation` to the job's
output path. lm-eval's own progress bars and log lines go to stderr, where the driver reads them. Running in a
separate process means a hung or crashing evaluation is killed by the driver, never taking the runtime along.
"""

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from kitt.bench.quality import fitting, scoring, taskfiles
from kitt.bench.quality.job import CANNOT_FIT, Evaluation, Job, Scalar, TaskScores

OFFLINE_ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
_TEXT_LIMIT = 2000


def _register_metrics() -> None:
    from lm_eval.api.registry import metric_registry, register_metric

    for name, rule in scoring.RULES.items():
        if name not in metric_registry:
            register_metric(
                metric=name, higher_is_better=True, output_type="generate_until", aggregation="mean"
            )(rule)


def _sandbox() -> None:
    """An untrusted task's templates render in Jinja's sandbox (lm-eval's own environment is not one), and
    a metric lm-eval does not know cannot fall back to HF `evaluate`, which would run a script of that
    name: the checks at validation see only what is written out, this holds at render time too."""
    import lm_eval.utils
    from jinja2 import BaseLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    plain = lm_eval.utils.env
    sandboxed = SandboxedEnvironment(
        loader=BaseLoader(), undefined=StrictUndefined, keep_trailing_newline=True
    )
    sandboxed.filters.update(plain.filters)
    lm_eval.utils.env = sandboxed
    sys.modules["evaluate"] = None  # type: ignore[assignment]  # `import evaluate` raises ImportError


def model_name(job: Job) -> str:
    if job.mode == "generative":
        return "kitt-completions"
    return "kitt-tgi" if job.dialect == "tgi" else "local-completions"


def model_args(job: Job) -> dict[str, str | int | float | bool]:
    """local-completions: a remote tokenizer for loglikelihood; kitt-completions (generation): none, its
    prompts fitted to the context through the engine's tokenizer first; kitt-tgi: TGI's."""
    if model_name(job) == "kitt-tgi":
        return {
            "base_url": job.server_url,
            "num_concurrent": job.concurrency,
            "timeout": job.request_timeout_s,
            "max_retries": 3,
        }
    args: dict[str, str | int | float | bool] = {
        "model": job.model,
        "base_url": f"{job.server_url}/v1/completions",
        "num_concurrent": job.concurrency,
        "max_retries": 3,
        "timeout": job.request_timeout_s,
        "max_length": job.max_length,
        "seed": job.seed,
    }
    if job.mode == "loglikelihood":
        args["tokenizer_backend"] = "remote"
    else:
        args["tokenizer_backend"] = "none"
        args["tokenized_requests"] = False
    if job.max_gen_toks is not None:
        args["max_gen_toks"] = job.max_gen_toks
    if model_name(job) == "kitt-completions":
        args.update(kitt_context=job.max_length, kitt_stated_context=job.context_stated)
        args["kitt_engine"] = job.engine
        if job.tokenize_api is not None:
            args["kitt_tokenize_api"] = job.tokenize_api
    return args


def _scalar(value: object) -> Scalar:
    if value is None or (isinstance(value, str) and len(value) <= _TEXT_LIMIT):
        return value
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool is not a bool
        return bool(value)
    if isinstance(value, int) or type(value).__name__.startswith("int"):
        return int(str(value))  # numpy's integers print as plain digits
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        return float(str(value))
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_TEXT_LIMIT]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _section(results: dict[str, object], key: str) -> dict[str, Any]:
    """One part of lm-eval's results (plain JSON-like dicts, untyped): {} when absent or not a dict."""
    found = results.get(key)
    return found if isinstance(found, dict) else {}


def _scores(name: str, raw: dict[str, object], results: dict[str, object], group: bool) -> TaskScores:
    n_shot = _section(results, "n-shot").get(name)
    counts = _section(results, "n-samples").get(name) or {}
    alias = raw.get("alias")
    return TaskScores(
        name=name,
        group=group,
        alias=alias if isinstance(alias, str) else None,
        version=_scalar(_section(results, "versions").get(name)),
        num_fewshot=n_shot if isinstance(n_shot, int) else None,
        samples=counts.get("effective") if isinstance(counts, dict) else None,
        scores={k: _number(v) for k, v in raw.items() if "," in k},
    )


def _samples(results: dict[str, object]) -> list[dict[str, Scalar]]:
    rows: list[dict[str, Scalar]] = []
    for task, samples in _section(results, "samples").items():
        for sample in samples:
            filtered = sample.get("filtered_resps") or []
            row: dict[str, Scalar] = {
                "task": task,
                "doc_id": sample.get("doc_id"),
                "filter": sample.get("filter"),
                "target": _scalar(sample.get("target")),
                "response": _scalar(filtered[0] if len(filtered) == 1 else filtered),
            }
            for metric in sample.get("metrics") or []:
                row[metric] = _scalar(sample.get(metric))
            rows.append(row)
    return rows


def evaluate(job: Job) -> Evaluation:
    os.environ.update(OFFLINE_ENV)
    started = time.monotonic()
    import lm_eval
    import lm_eval.tasks
    from lm_eval.api.registry import get_model
    from lm_eval.tasks import TaskManager

    from kitt.bench.quality import completions, tgi  # these import lm-eval: only once the switches are set

    _register_metrics()
    tgi.register()
    completions.register()
    if job.sandboxed:
        _sandbox()
    include = list(job.include_paths)
    if job.variant is not None:
        stock = Path(lm_eval.tasks.__file__).parent
        include.append(str(taskfiles.write(job.variant, job.files, stock, Path(job.work_dir) / "tasks")))
    manager = TaskManager(include_path=include, include_defaults=False)
    # built here rather than by name, so what it did to fit prompts can be read back afterwards
    lm = get_model(model_name(job)).create_from_arg_obj(model_args(job), {"batch_size": 1})
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=list(job.tasks),
        num_fewshot=job.num_fewshot,
        limit=job.limit,
        batch_size=1,
        task_manager=manager,
        log_samples=True,
        random_seed=job.seed,
        numpy_random_seed=job.seed,
        torch_random_seed=job.seed,
        fewshot_random_seed=job.seed,
    )
    if results is None:
        raise RuntimeError("lm-eval returned no results")
    groups = set(results.get("groups", {}))
    tasks = tuple(_scores(name, raw, results, name in groups) for name, raw in results["results"].items())
    return Evaluation(
        lm_eval_version=getattr(lm_eval, "__version__", "unknown"),
        tasks=tasks,
        subtasks={k: list(v) for k, v in results.get("group_subtasks", {}).items()},
        samples=tuple(_samples(results)),
        duration_s=time.monotonic() - started,
        fitting=getattr(lm, "fitting", None),
    )


def main() -> None:
    job = msgspec.json.decode(sys.stdin.buffer.read(), type=Job)
    try:
        evaluation = evaluate(job)
    except fitting.ContextTooShort as exc:  # the driver quotes this line as the benchmark's failure
        print(f"{CANNOT_FIT}{exc}", file=sys.stderr, flush=True)
        sys.exit(3)
    Path(job.output).write_bytes(msgspec.json.encode(evaluation))


if __name__ == "__main__":
    main()
