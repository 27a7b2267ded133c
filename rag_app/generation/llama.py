"""The answer model run in this process by llama.cpp: `LlamaGenerator`, the default `Generator`.

The model is loaded once (on first use) and used by one request at a time (a fair lock);
`LlamaGenerator.set_model` switches to another GGUF file. Its prompts are rendered and counted
in its own vocabulary by a `renderer.Renderer` over the loaded model.

What the model read is kept (`context_cache.ContextCache`): the instructions are read once, a
follow-up over the same passages reads only its question, and `LlamaGenerator.prefill` reads
the prompt of a question still being typed, so that pressing Enter leaves only what changed.
A prefill gives way to a question at its next piece (`READ_BATCH` tokens).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psutil

from rag_app.config import GenerationSettings
from rag_app.generation.base import Generation, GenerationStats, PrefillResult, timed
from rag_app.generation.context_cache import ContextCache, ReadResult
from rag_app.generation.fair_lock import FairLock
from rag_app.generation.prompt import Prompt, reading_stops
from rag_app.generation.renderer import Renderer, context_window, llama_class
from rag_app.generation.request import Request
from rag_app.generation.token_record import TokenRecorder, first_tokens, last_logits, stopping
from rag_app.llm.files import resolve_llm

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

# A prompt is read in pieces of at most this many tokens (`prompt.reading_stops`): a prefill
# gives way to a question within one piece (at most about 1.7 s on two cores, most parts are
# shorter). Measured on four demo prompts of 372-399 tokens, reading in pieces costs 3-13% over
# one batch (part boundaries); pieces of 64 cost 8-45%, as the short ends of parts read slowly.
READ_BATCH = 128


class LlamaGenerator:
    """A GGUF model loaded once, prompted within its context window, streamed one request at a time."""

    def __init__(self, settings: GenerationSettings, models_dir: Path, model: str | Path | None = None) -> None:
        """Resolve ``model`` (or ``settings.model``: a catalogue id, a GGUF path, or empty for the
        default) among the models installed in ``models_dir``; raises `ModelNotFoundError` saying
        how to install it. Loads on first use."""
        self.settings = settings
        self.models_dir = models_dir
        self.model = resolve_llm(str(model) if model else settings.model, models_dir)
        self._lock = FairLock()  # questions take the model in the order they came
        self._llm: Llama | None = None
        self._renderer: Renderer | None = None
        self._cache: ContextCache | None = None
        self._waiting = 0  # questions being answered: a prefill stops for them
        self._counter = threading.Lock()  # guards it

    # ----- model -------------------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        """The GGUF file in use."""
        return self.model.path

    @property
    def n_ctx(self) -> int:
        """The context window (`renderer.context_window`)."""
        return context_window(self.settings, self.model)

    @property
    def llm(self) -> Llama:
        """The loaded llama.cpp model (loaded on first use)."""
        if self._llm is None:
            self._load()
        assert self._llm is not None
        return self._llm

    def load(self) -> None:
        """Load the model now (otherwise it loads on the first question)."""
        with self._lock:
            _ = self.llm

    def _load(self) -> None:
        Llama = llama_class()  # noqa: N806 - the class
        threads = self.settings.n_threads or physical_cores()
        log.info("Loading %s (n_ctx=%d, %d threads)", self.model_path, self.n_ctx, threads)
        try:
            with _model_params(use_extra_bufts=self.settings.repack_weights):
                llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=self.settings.n_gpu_layers,
                    flash_attn=self.settings.flash_attention,
                    verbose=False,
                )
        except ValueError as exc:
            raise RuntimeError(
                f"Could not load the model {self.model_path}: is it a valid GGUF file? ({exc})"
            ) from exc
        self._llm = llm
        self._renderer = Renderer(llm, self.model, self.settings, self.n_ctx)
        self._cache = ContextCache(llm)

    def set_model(self, model: str | Path) -> None:
        """Switch to another catalogue id or GGUF file (waits for the running request; loads on
        next use). Raises `ModelNotFoundError` and keeps the current model when it is missing."""
        resolved = resolve_llm(str(model), self.models_dir)
        with self._lock:
            if self._llm is not None:
                self._llm.close()
            self._llm, self._renderer, self._cache = None, None, None
            self.model = resolved

    def close(self) -> None:
        """Free the model."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
            self._llm, self._renderer, self._cache = None, None, None

    @property
    def cache(self) -> ContextCache:
        """What the model has read (`ContextCache`; the model is loaded first)."""
        _ = self.llm
        assert self._cache is not None
        return self._cache

    @property
    def renderer(self) -> Renderer:
        """Renders and counts this model's prompts (the model is loaded first)."""
        _ = self.llm
        assert self._renderer is not None
        return self._renderer

    @property
    def model_name(self) -> str:
        """The catalogue id of the model, or its file name."""
        return self.model.label

    def token_counting(self) -> str:
        """The model in this process counts its own prompts."""
        return f"the tokenizer of {self.model.label}, the model writing here"

    # ----- answer check ------------------------------------------------------------------
    def judge_support(self, passage: str, question: str, answer: str) -> float:
        """The model's probability (0..1) that ``passage`` states ``answer`` to ``question``.

        A yes/no question put to the model (`renderer.JUDGE_PROMPT`); the probability is read
        from the logits of its first reply token ("yes" against "no"), so no text is generated.
        Holds the model lock.
        """
        with self._lock:
            llm = self.llm
            tokens = self.renderer.judge_tokens(passage, question, answer)
            self.cache.forget_live()
            llm.reset()
            llm.eval(tokens)
            logits = last_logits(llm)
            yes = max(float(logits[t]) for t in first_tokens(llm, ("yes", "Yes", " yes", " Yes")))
            no = max(float(logits[t]) for t in first_tokens(llm, ("no", "No", " no", " No")))
        return 1.0 / (1.0 + math.exp(no - yes))

    # ----- generation --------------------------------------------------------------------
    def stream(self, request: Request) -> Generation:
        """The reply, written as it is iterated (`Generation`). The prompt is built when the
        iteration starts, and the model lock is held until it is exhausted or closed; a running
        `prefill` gives way at its next piece. What the model read is kept for the request's
        conversation."""
        generation = Generation()
        generation.pieces = self._stream(generation, request)
        return generation

    def prefill(self, request: Request, stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """Read the prompt of a question being typed (all of it but its last token), so that the
        question, when asked, finds it read. Stops early, keeping the pieces read, as soon as a
        question waits for the model (`priority`) or ``stop()`` (a newer draft) says so."""

        def superseded() -> bool:
            return bool(self._waiting) or stop()

        if superseded():
            return PrefillResult(complete=False)
        with self._lock:
            if superseded():
                return PrefillResult(complete=False)
            prompt, read = self._read_prompt(request, superseded)
            self.cache.save(request.conversation)
        log.info("Prefill: %d tokens reused, %d read of %d%s", read.reused, read.read, len(prompt.tokens),
                 "" if read.complete else " (gave way)")
        return PrefillResult(len(prompt.tokens), read.reused, read.read, read.complete)

    def _read_prompt(self, request: Request, should_stop: Callable[[], bool] = lambda: False
                     ) -> tuple[Prompt, ReadResult]:
        """Build the prompt and bring the context to all of it but its last token, reusing what
        it holds (`ContextCache.read`; ``should_stop`` may end the reading early). Holds no lock:
        the caller has the model's."""
        prompt = self.renderer.build_prompt(request)
        stops = reading_stops(len(prompt.tokens), prompt.segments, READ_BATCH)
        return prompt, self.cache.read(prompt.tokens, stops, should_stop)

    @contextmanager
    def priority(self) -> Iterator[None]:
        """While in this block (a question being answered), prefills stop and start none."""
        with self._counter:
            self._waiting += 1
        try:
            yield
        finally:
            with self._counter:
                self._waiting -= 1

    def _stream(self, generation: Generation, request: Request) -> Iterator[str]:
        asked = time.perf_counter()
        with self.priority():
            self._lock.acquire()
        try:
            started = time.perf_counter()
            prompt, read = self._read_prompt(request)
            generation.prompt = prompt
            generation.stats.cached_tokens = read.reused
            log.info("Question: %d of %d prompt tokens read ahead; waited %.2f s for the model", read.reused,
                     len(prompt.tokens), started - asked)
            yield from self._generate(prompt, request.temperature, generation.stats, started)
            self.cache.save(request.conversation)
        finally:
            self._lock.release()

    def _generate(
        self, prompt: Prompt, temperature: float | None, stats: GenerationStats, started: float
    ) -> Iterator[str]:
        """Write the reply; the context holds the prompt but its last token (`ContextCache.read`),
        so llama-cpp-python reads that token alone (its prefix match) and starts writing."""
        stats.prompt_tokens = len(prompt.tokens)
        temperature = self.settings.temperature if temperature is None else temperature
        counter = TokenRecorder(self.llm, self.renderer.refusal_ids())
        chunks = cast(Generator[Any, None, None], self.llm.create_completion(  # stream=True: chunks
            prompt.tokens,
            max_tokens=prompt.max_tokens,
            temperature=temperature,
            seed=self.settings.seed,
            repeat_penalty=self.model.repeat_penalty,
            stop=prompt.stop or None,
            stream=True,
            stopping_criteria=stopping([counter]),
        ))
        with closing(chunks):  # a reader that leaves stops llama.cpp at this token
            for text in timed((chunk["choices"][0]["text"] for chunk in chunks), stats, started):
                stats.generated_tokens = counter.count
                yield text
        stats.generated_tokens = counter.count
        stats.token_logprobs = counter.logprobs
        stats.refusal_start = counter.refusal_start


def physical_cores() -> int:
    """The CPU cores this process may run on, one thread each (the ``n_threads = 0`` setting).

    llama-cpp-python's own default is half the logical CPUs for writing, which on a 2-core
    machine without hyper-threading writes on one core: measured here, Qwen2.5 1.5B wrote 8.2
    tokens/s on one thread and 14.7 on two (reading the prompt took the same 4.2 s).
    """
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):  # Linux: the CPUs this process may use (a container's share)
        cores = min(cores, len(os.sched_getaffinity(0)))
    return max(1, cores)


_MODEL_PARAMS_LOCK = threading.Lock()


@contextmanager
def _model_params(**fields: object) -> Iterator[None]:
    """Models loaded inside the block get ``fields`` set in their llama.cpp model parameters.

    `Llama` takes no argument for some of them (``use_extra_bufts``: whether the CPU backend
    copies the weights into its repacked layout), and it builds them from
    ``llama_model_default_params()`` while loading; that function is wrapped for the duration,
    one load at a time."""
    import llama_cpp.llama_cpp as native

    with _MODEL_PARAMS_LOCK:
        defaults = native.llama_model_default_params

        def params() -> Any:
            values = defaults()
            for name, value in fields.items():
                setattr(values, name, value)
            return values

        native.llama_model_default_params = params
        try:
            yield
        finally:
            native.llama_model_default_params = defaults
