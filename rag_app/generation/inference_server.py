"""Generation on an OpenAI-compatible inference server (llama.cpp's server, `llama_cpp.server`,
vLLM): `ServerGenerator`, chosen by the setting ``generation.llm_url``.

The prompt is built here exactly as for the model in this process (the same `renderer.Renderer`:
the GGUF's own chat template, the same token budget), counted with the model's own tokenizer: the
vocabulary of the catalogue model ``generation.model`` (it must be the server's model or one of
its family), loaded without its weights (``vocab_only``, a few MB). The rendered prompt is sent
whole to the server's ``/v1/completions``. Before the first prompt the server is asked for its
own tokens of a sample text (`server_tokens.ServerTokenizer`: llama_cpp.server and llama.cpp's
server have an endpoint for it): when they differ from the tokens counted here, the prompts are
counted by the server from then on; a server without the endpoint (vLLM, OpenAI) cannot be
checked, and `rag-app info` says so (`token_counting`).

The reply streams back with each token's log-probability and the first token's most likely
alternatives (``logprobs``), which the verified decision reads (`GenerationStats`): the
probability of opening a refusal is summed over the server's top `TOP_LOGPROBS` only, so it is a
lower bound of the in-process figure. A server that gives no log-probabilities, or
``llm_logprobs = false``, leaves both empty, and the decision counts them at their training mean
(grounding/decision.py): it then works from the other signals. llama_cpp.server writes about 5x
slower when asked for log-probabilities (it converts the whole vocabulary's logits at each token;
measured in docs/architecture.md); llama.cpp's own server and vLLM give them at little cost.

A server that cannot be reached, times out or answers 5xx before the first token is asked again
(`GenerationSettings.llm_retries`, with backoff); once a token has been shown, a failure ends the
answer with `GenerationServerError`: a half answer is never silently written twice. Questions are
not queued here (the server batches them); a draft is not read ahead (`prefill` does nothing).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_app.config import GenerationSettings
from rag_app.generation.base import Generation, GenerationStats, PrefillResult, timed
from rag_app.generation.prompt import Prompt
from rag_app.generation.renderer import Renderer, context_window, llama_class
from rag_app.generation.request import Request
from rag_app.generation.server_tokens import ServerTokenizer
from rag_app.llm.files import resolve_llm

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

TOP_LOGPROBS = 10  # alternatives asked for each token (the refusal signal sums the first's)
# The text both tokenizers count once, to tell whether they are the same (French, English, names, numbers).
TOKENS_SAMPLE = "Où les cigognes blanches font-elles leur nid ? Where do storks nest? GPT-2, Q4_K_M, 1998 : 7 %."
BACKOFF_S = 0.5  # the first wait before asking again; doubled each time


class GenerationServerError(RuntimeError):
    """The inference server could not answer; the message says what happened and what to do."""


class ServerGenerator:
    """A `Generator` writing on the OpenAI-compatible server at ``settings.llm_url``, with the
    prompt rendered and counted here in the tokens of the catalogue model ``settings.model``."""

    def __init__(self, settings: GenerationSettings, models_dir: Path, model: str | Path | None = None) -> None:
        """Resolve the model whose vocabulary counts the prompts, as `LlamaGenerator` resolves
        its model (`ModelNotFoundError` saying how to install it); nothing is read before use."""
        self.settings = settings
        self.model = resolve_llm(str(model) if model else settings.model, models_dir)
        self.url = settings.llm_url.rstrip("/")
        self._lock = threading.Lock()  # the vocabulary, not the server: rendering takes milliseconds
        self._renderer: Renderer | None = None
        self._client: OpenAI | None = None
        self._refusal_texts: set[str] | None = None
        self._server_tokens = ServerTokenizer(self.url, settings.llm_api_key, settings.llm_connect_timeout_s)
        self._counted_by_server: bool | None = None  # None: not yet compared (the server not reached)

    @property
    def client(self) -> OpenAI:
        """The `openai` client of the server (made on first use)."""
        if self._client is None:
            from openai import OpenAI, Timeout

            timeout = Timeout(self.settings.llm_read_timeout_s, connect=self.settings.llm_connect_timeout_s)
            self._client = OpenAI(base_url=self.url, api_key=self.settings.llm_api_key or "none", timeout=timeout,
                                  max_retries=0)  # retried here, before the first token only
        return self._client

    @property
    def model_name(self) -> str:
        """The catalogue id of the model whose tokenizer counts the prompt: the server's model
        (or of its family), so that its fitted decision (grounding/decision.py) applies."""
        return self.model.label

    @property
    def model_path(self) -> Path:
        """The GGUF whose vocabulary counts the prompts (its weights are the server's)."""
        return self.model.path

    @property
    def n_ctx(self) -> int:
        """The context window (`renderer.context_window`)."""
        return context_window(self.settings, self.model)

    @property
    def renderer(self) -> Renderer:
        """The model's tokenizer and chat template only (``vocab_only``), read on first use."""
        if self._renderer is None:
            try:
                vocabulary = llama_class()(model_path=str(self.model_path), vocab_only=True, verbose=False)
            except ValueError as exc:
                raise RuntimeError(f"Could not read the vocabulary of {self.model_path} ({exc}).") from exc
            self._renderer = Renderer(vocabulary, self.model, self.settings, self.n_ctx)
        return self._renderer

    def load(self) -> None:
        """Read the vocabulary now (otherwise on the first question)."""
        with self._lock:
            _ = self.renderer

    # ----- counting ----------------------------------------------------------------------
    def _compare_tokenizers(self) -> None:
        """Once the server answers: count with its tokenizer from now on if it differs from the
        one here (the caller holds the lock)."""
        if self._counted_by_server is not None:
            return
        theirs = self._server_tokens.tokenize(TOKENS_SAMPLE)
        if theirs is None:
            return
        vocabulary = self.renderer.vocabulary
        ours = vocabulary.tokenize(TOKENS_SAMPLE.encode("utf-8"), add_bos=True, special=True)
        bos = vocabulary.token_bos()
        self._counted_by_server = [t for t in theirs if t != bos] != [t for t in ours if t != bos]
        if self._counted_by_server:
            self.renderer.counter = self._count_on_server
            log.warning("The answer server at %s does not count tokens as %s does: its prompts are counted "
                        "by the server (set generation.model to the server's model to count them here)",
                        self.url, self.model.label)

    def token_counting(self) -> str:
        """How the prompts are counted, after asking the server once."""
        with self._lock:
            self._compare_tokenizers()
        here = f"the tokenizer of {self.model.label}, read here"
        if self._counted_by_server is None:
            return f"{here} (not checked: the server offers no tokenize endpoint, or did not answer)"
        if self._counted_by_server:
            return (f"the server's tokenizer (/{self._server_tokens.endpoint}): it differs from {self.model.label}'s; "
                    "set generation.model to the server's model")
        return f"{here}, the same as the server's (checked with /{self._server_tokens.endpoint})"

    def _count_on_server(self, text: str, add_bos: bool) -> list[int] | None:
        """``text`` in the server's own tokens (it always reads special-token strings as such; the
        start-of-text token is dropped when not wanted); None when the server went away (the
        answer will say so; the prompt is counted here meanwhile)."""
        tokens = self._server_tokens.tokenize(text)
        if tokens is not None and not add_bos and tokens and tokens[0] == self.renderer.vocabulary.token_bos():
            tokens = tokens[1:]
        return tokens

    def set_model(self, model: str | Path) -> None:
        """The answer model is the server's: refused (`RuntimeError`), the current one kept."""
        raise RuntimeError(f"The answers are written by the server at {self.url} (generation.llm_url); its "
                           "model is chosen there. Clear llm_url to answer with a model of this machine.")

    def close(self) -> None:
        """Close the connections to the server and free the tokenizer."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._server_tokens.close()
        with self._lock:
            if self._renderer is not None:
                self._renderer.vocabulary.close()
            self._renderer = None

    # ----- what the in-process model does that a server does not ---------------------------
    def prefill(self, request: Request, stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """Nothing is read ahead on a server (its own prompt cache may reuse a prefix)."""
        return PrefillResult(complete=False)

    @contextmanager
    def priority(self) -> Iterator[None]:
        """No draft is read ahead here, so a question has nothing to stop."""
        yield

    def judge_support(self, passage: str, question: str, answer: str) -> float:
        """The server's probability (0..1) of "yes" against "no" as the first word of its reply
        to `JUDGE_PROMPT`, from the top log-probabilities of one generated token."""
        with self._lock:
            text, _, _ = self.renderer.judge_prompt(passage, question, answer)
        reply = self._request(text, max_tokens=1, temperature=0.0, stream=False)
        top = (reply.choices[0].logprobs.top_logprobs or [{}])[0] if reply.choices[0].logprobs else {}
        yes = max((lp for t, lp in top.items() if t.strip().lower() == "yes"), default=-math.inf)
        no = max((lp for t, lp in top.items() if t.strip().lower() == "no"), default=-math.inf)
        if yes == no == -math.inf:
            return 0.5  # neither among the alternatives given: no opinion
        return 1.0 / (1.0 + math.exp(min(no - yes, 700.0)))

    # ----- generation --------------------------------------------------------------------
    def stream(self, request: Request) -> Generation:
        """The reply, written by the server as it is iterated (`Generation`)."""
        generation = Generation()
        generation.pieces = self._stream_from_server(generation, request)
        return generation

    def _stream_from_server(self, generation: Generation, request: Request) -> Iterator[str]:
        import openai

        started = time.perf_counter()
        with self._lock:
            self._compare_tokenizers()
            prompt = self.renderer.build_prompt(request)
            refusal = self._refusal_openings()
        generation.prompt = prompt
        stats = generation.stats
        stats.prompt_tokens = len(prompt.tokens)
        temperature = self.settings.temperature if request.temperature is None else request.temperature
        for attempt in range(self.settings.llm_retries + 1):
            shown = False
            try:
                for text in self._read_reply(prompt, temperature, stats, refusal, started):
                    shown = True
                    yield text
                return
            except openai.APIError as exc:  # the connection (also mid-stream), a timeout, a 5xx
                if shown:
                    raise GenerationServerError(
                        f"The answer server at {self.url} stopped in the middle of the answer ({_why(exc)}). "
                        "Ask again once it runs.") from exc
                if attempt == self.settings.llm_retries:
                    raise GenerationServerError(
                        f"The answer server at {self.url} does not answer ({_why(exc)}). Start it, or check "
                        "generation.llm_url (or clear it to answer with a model of this machine).") from exc
                wait = BACKOFF_S * 2 ** attempt
                log.warning("The answer server at %s: %s; asking again in %.1f s", self.url, _why(exc), wait)
                time.sleep(wait)

    def _read_reply(self, prompt: Prompt, temperature: float, stats: GenerationStats, refusal: set[str],
                    started: float) -> Iterator[str]:
        """One streamed request: the reply's pieces, the stats filled in as they come."""
        stats.token_logprobs, stats.refusal_start, stats.generated_tokens = [], None, 0

        def texts(chunks: Iterable[Any]) -> Iterator[str]:
            for chunk in chunks:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                logprobs = choice.logprobs
                if logprobs is not None and logprobs.tokens:
                    if not stats.token_logprobs and logprobs.top_logprobs:
                        top = logprobs.top_logprobs[0] or {}
                        stats.refusal_start = sum(math.exp(lp) for t, lp in top.items() if t in refusal)
                    stats.token_logprobs += list(zip(logprobs.tokens, logprobs.token_logprobs or [], strict=False))
                    stats.generated_tokens += len(logprobs.tokens)
                elif choice.text:
                    stats.generated_tokens += 1
                yield choice.text or ""

        with closing(self._request(prompt.text, max_tokens=prompt.max_tokens, temperature=temperature,
                                   stop=prompt.stop, stream=True)) as chunks:
            yield from timed(texts(chunks), stats, started)

    def _request(self, prompt: str, *, max_tokens: int, temperature: float, stop: list[str] | None = None,
                 stream: bool) -> Any:
        """``/v1/completions`` of ``prompt``; a refusal by the server (4xx) is a
        `GenerationServerError` at once (asking again would not help)."""
        import openai

        try:
            return self.client.completions.create(
                model=self.settings.llm_model or self.model.label, prompt=prompt, max_tokens=max_tokens,
                temperature=temperature, seed=self.settings.seed, stop=stop or None, stream=stream,
                logprobs=TOP_LOGPROBS if self.settings.llm_logprobs else None)
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise
            raise GenerationServerError(f"The answer server at {self.url} refused the question ({exc.status_code}: "
                                        f"{_why(exc)}). Check generation.llm_model and llm_api_key.") from exc

    def _refusal_openings(self) -> set[str]:
        """The text of the first token of each way a refusal opens (`REFUSAL_OPENINGS`)."""
        if self._refusal_texts is None:
            renderer = self.renderer
            self._refusal_texts = {renderer.detokenize([t]) for t in renderer.refusal_ids()}
        return self._refusal_texts


def _why(exc: BaseException) -> str:
    """A short reason for ``exc`` (the server's message when it sent one)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message") or body.get("error"), str):
        return str(body.get("message") or body.get("error"))
    return str(exc) or type(exc).__name__
