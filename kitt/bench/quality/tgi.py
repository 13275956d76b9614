"""Loglikelihood scoring on TGI: an lm-eval model over TGI's native `/generate` and `/tokenize`.

TGI's OpenAI routes do not echo prompt logprobs, but `/generate` with `decoder_input_details` returns the
prefill: every input token with its logprob. lm-eval's own pair encoding decides where the context ends
(`tok_encode` asks TGI's `/tokenize`, so the split is the server's tokenizer's); the continuation's logprob
is the sum over the prefill after that many tokens. TGI reports no alternatives for prefill tokens, so
`is_greedy` is always False (multiple-choice accuracy does not use it). The evaluation worker registers
this class as the lm-eval model `kitt-tgi`.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import requests
from lm_eval.api.model import TemplateLM


class TgiError(RuntimeError):
    pass


class TgiLoglikelihood(TemplateLM):
    def __init__(
        self,
        base_url: str,
        num_concurrent: int = 1,
        timeout: int = 300,
        max_retries: int = 3,
        **_: object,  # lm-eval passes batch_size, device, ...; none apply to a remote server
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(num_concurrent))
        self.timeout = int(timeout)
        self.max_retries = int(max_retries)
        self.session = requests.Session()

    def _post(self, path: str, payload: dict[str, object]) -> object:
        last: Exception | None = None
        for _ in range(self.max_retries):
            try:
                response = self.session.post(
                    f"{self.base_url}{path}",
                    data=json.dumps(payload),
                    headers={"Content-Type": "application/json"},
                    timeout=self.timeout,
                )
                response.raise_for_status()
                return response.json()
            except requests.RequestException as exc:
                last = exc
        raise TgiError(f"TGI {path} failed after {self.max_retries} attempts: {last}")

    @cached_property
    def eot_token_id(self) -> int:
        return 0  # only used for an empty context, which no built-in task has

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **_: object) -> list[int]:
        tokens = self._post("/tokenize", {"inputs": string})
        if not isinstance(tokens, list):
            raise TgiError("TGI /tokenize did not return a list of tokens")
        return [int(token["id"]) for token in tokens]

    def _score(self, request: tuple[tuple[str, str], list[int], list[int]]) -> tuple[float, bool]:
        (context, continuation), context_enc, _ = request
        parameters = {"max_new_tokens": 1, "details": True, "decoder_input_details": True, "do_sample": False}
        answer = self._post("/generate", {"inputs": context + continuation, "parameters": parameters})
        prefill = answer.get("details", {}).get("prefill") if isinstance(answer, dict) else None
        if not prefill:
            raise TgiError("TGI /generate returned no prefill details (decoder_input_details)")
        scored = [token.get("logprob") for token in prefill[len(context_enc) :]]
        if not scored or any(lp is None for lp in scored):
            raise TgiError(f"TGI returned no logprob for part of the continuation {continuation!r}")
        return float(sum(scored)), False

    def _loglikelihood_tokens(
        self,
        requests: list[tuple[tuple[str, str], list[int], list[int]]],
        disable_tqdm: bool = False,
        **_: object,
    ) -> list[tuple[float, bool]]:
        from tqdm import tqdm

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(
                tqdm(
                    pool.map(self._score, requests),
                    total=len(requests),
                    disable=disable_tqdm,
                    desc="Requesting API",
                )
            )

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("rolling loglikelihood (perplexity) is not offered on TGI")

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        raise NotImplementedError("KITT runs generative tasks on TGI through its OpenAI completions route")


def register() -> None:
    import lm_eval.models  # noqa: F401 - the stock models first: lm-eval loads them only into an empty registry
    from lm_eval.api.registry import model_registry, register_model

    if "kitt-tgi" not in model_registry:
        register_model("kitt-tgi")(TgiLoglikelihood)
