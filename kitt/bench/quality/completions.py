"""Generative tasks over an OpenAI completions route, prompts fitted to the engine's context first.

lm-eval's `local-completions` with no tokenizer sends each prompt as it is; this subclass runs the whole
batch through `kitt.bench.quality.fitting` before the first request, so a prompt too long for the engine is
cut from the left (or the evaluation fails saying why), and keeps what it did for the result. Everything
else (requests, retries, concurrency, answer parsing) is lm-eval's. The evaluation worker registers it as the
lm-eval model `kitt-completions`.
"""

from lm_eval.api.instance import Instance
from lm_eval.models.openai_completions import LocalCompletionsAPI

from kitt.bench.quality import fitting


class FittedCompletions(LocalCompletionsAPI):
    def __init__(
        self,
        *,
        kitt_tokenize_api: fitting.TokenizeApi | None = None,
        kitt_context: int = 2048,
        kitt_stated_context: bool = False,
        kitt_engine: str = "the engine",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        model, base_url = str(kwargs.get("model", "")), str(kwargs.get("base_url", ""))
        root = base_url.removesuffix("/v1/completions")
        self._fit_tokenizer = (
            fitting.EngineTokenizer(root, kitt_tokenize_api, model, float(str(kwargs.get("timeout", 300))))
            if kitt_tokenize_api is not None
            else None
        )
        self._fit_context = kitt_context
        self._fit_stated = kitt_stated_context
        self._fit_engine = kitt_engine
        self.fitting: fitting.Fitting | None = None

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        asked = [(str(r.args[0]), int(r.args[1].get("max_gen_toks", self._max_gen_toks))) for r in requests]
        texts, self.fitting = fitting.fit_all(
            asked,
            tokenizer=self._fit_tokenizer,
            context=self._fit_context,
            stated_context=self._fit_stated,
            engine=self._fit_engine,
            parallel=max(4, self._concurrent),
        )
        for request, text in zip(requests, texts, strict=True):
            request.arguments = (text, *request.args[1:])
        return super().generate_until(requests, disable_tqdm=disable_tqdm)


def register() -> None:
    import lm_eval.models  # noqa: F401 - the stock models first: lm-eval loads them only into an empty registry
    from lm_eval.api.registry import model_registry, register_model

    if "kitt-completions" not in model_registry:
        register_model("kitt-completions")(FittedCompletions)
