"""Generation with llama.cpp: `LlamaGenerator`, the default `Generator`.

A model whose GGUF holds a chat template (``tokenizer.chat_template``, e.g. the bundled
SmolLM2-135M-Instruct) is prompted through that template, rendered the way llama-cpp-python's
own chat handler renders it; a model without one (a base model such as Gemma 3 270M) gets a
plain completion prompt ending in "Answer:".

Every length is counted in the model's own tokens (``llm.tokenize``); `prompt.build_prompt`
keeps prompt + answer within ``n_ctx``.

The model is loaded once (on first use) and used by one request at a time (a lock);
`LlamaGenerator.set_model` switches to another GGUF file.

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
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psutil

from rag_app.answer import History, Passage
from rag_app.config import GenerationSettings
from rag_app.generation.base import Generation, GenerationStats, PrefillResult, timed
from rag_app.generation.context_cache import ContextCache, ReadResult
from rag_app.generation.fair_lock import FairLock
from rag_app.generation.prompt import (
    COMPLETION_STOPS,
    LABELS,
    Prompt,
    build_prompt,
    instructions,
    reading_stops,
    segment_ends,
)
from rag_app.generation.token_record import REFUSAL_OPENINGS, TokenRecorder, first_tokens, last_logits, stopping
from rag_app.llm.files import ModelNotFoundError, resolve_llm
from rag_app.text import ENGLISH

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

# The yes/no question of `LlamaGenerator.judge_support` (English: the models judge best in it).
JUDGE_PROMPT = (
    "Passage: {passage}\n\nQuestion: {question}\nProposed answer: {answer}\n\n"
    "Does the passage itself state this answer to this exact question? Reply with one word: yes or no."
)

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
        self._formatter = None
        self._refusal: set[int] | None = None
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
        """The context window: the ``n_ctx`` setting, or the one the catalogue recommends."""
        return self.settings.n_ctx or self.model.n_ctx

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
        self._formatter = _chat_formatter(llm)
        self._cache = ContextCache(llm)

    def set_model(self, model: str | Path) -> None:
        """Switch to another catalogue id or GGUF file (waits for the running request; loads on
        next use). Raises `ModelNotFoundError` and keeps the current model when it is missing."""
        resolved = resolve_llm(str(model), self.models_dir)
        with self._lock:
            if self._llm is not None:
                self._llm.close()
            self._llm, self._formatter, self._refusal, self._cache = None, None, None, None
            self.model = resolved

    def close(self) -> None:
        """Free the model."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
            self._llm, self._formatter, self._refusal, self._cache = None, None, None, None

    @property
    def cache(self) -> ContextCache:
        """What the model has read (`ContextCache`; the model is loaded first)."""
        _ = self.llm
        assert self._cache is not None
        return self._cache

    @property
    def has_chat_template(self) -> bool:
        """True when the GGUF holds a chat template (an instruction-tuned model)."""
        _ = self.llm
        return self._formatter is not None

    @property
    def model_name(self) -> str:
        """The catalogue id of the model, or its file name."""
        return self.model.label

    def token_counting(self) -> str:
        """The model in this process counts its own prompts."""
        return f"the tokenizer of {self.model.label}, the model writing here"

    def prompt_tokens(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        """``text`` in the tokens the model will read (the rendered prompt and its heads)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the model's own tokenizer (no special tokens added)."""
        return len(self.tokenize(text))

    def tokenize(self, text: str) -> list[int]:
        """``text`` in the model's tokens (no special tokens added)."""
        return self.prompt_tokens(text, add_bos=False, special=False)

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``."""
        return self.llm.detokenize(tokens).decode("utf-8", errors="ignore")

    # ----- prompt ------------------------------------------------------------------------
    def build_prompt(
        self,
        question: str,
        passages: Sequence[Passage],
        history: History = (),
        *,
        language: str = ENGLISH,
        max_tokens: int | None = None,
    ) -> Prompt:
        """The prompt for ``question`` over ``passages`` within this model's window (`build_prompt`)."""
        return build_prompt(self, question, passages, history, language=language, n_ctx=self.n_ctx,
                            max_tokens=max_tokens or self.settings.max_tokens,
                            max_prompt_tokens=self.settings.max_prompt_tokens,
                            history_turns=self.settings.history_turns,
                            history_answer_tokens=self.settings.history_answer_tokens)

    def render(
        self, question: str, blocks: list[str], history: list[tuple[str, str]], language: str
    ) -> Prompt:
        """The prompt through the GGUF's chat template, or a plain completion prompt without one.

        The parts another prompt may share come first and in the same order: the instructions,
        the passages, the earlier turns, and the question last, so a follow-up over the same
        passages, or the question of a draft, reuses what the model has read (`Prompt.segments`).
        """
        _ = self.llm
        labels = LABELS.get(language, LABELS[ENGLISH])
        context = f"{labels[0]}:\n" + "\n\n".join(blocks) if blocks else f"{labels[0]}: (none)"
        questions = [user for user, _ in history] + [question]
        if self._formatter is not None:
            # The passages open the first user turn (the oldest question kept), then the turns.
            messages: list[dict[str, str]] = [{"role": "system", "content": instructions(language)}]
            for n, user in enumerate(questions):
                content = f"{context}\n\n{labels[1]}: {user}" if n == 0 else f"{labels[1]}: {user}"
                messages.append({"role": "user", "content": content})
                if n < len(history):
                    messages.append({"role": "assistant", "content": history[n][1]})
            for message in messages[1:]:
                message["content"] = _inert(message["content"])
            result = self._formatter(messages=messages)
            add_bos = not result.added_special
            text = result.prompt
            tokens = self.prompt_tokens(text, add_bos=add_bos, special=True)
            stop = result.stop if isinstance(result.stop, list) else [result.stop]
            stop = [s for s in stop if s] + self.model.stops
            prompt = Prompt(tokens, text, 0, False, 0, 0, stop, chat=True)
            parts = [_inert(b) for b in blocks] + [_inert(a) for _, a in history]
        else:
            lines = [instructions(language), "", context, ""]
            for user, answer in history:
                lines += [f"{labels[1]}: {user}", f"{labels[2]}: {answer}", ""]
            lines += [f"{labels[1]}: {question}", f"{labels[2]}:"]
            text = "\n".join(lines)
            # The text is the user's and the documents': special-token strings in it stay plain text.
            add_bos = True
            tokens = self.prompt_tokens(text, add_bos=True, special=False)
            prompt = Prompt(tokens, text, 0, False, 0, 0, COMPLETION_STOPS + self.model.stops, chat=False)
            parts = blocks + [a for _, a in history]
        marks = [max(text.find(f"{labels[0]}:"), 0)]
        for part in parts:  # each passage and earlier answer ends a part
            at = text.find(part, marks[-1])
            if at >= 0:
                marks.append(at + len(part))
        special = prompt.chat
        prompt.segments = segment_ends(
            lambda head: self.prompt_tokens(head, add_bos=add_bos, special=special),
            text, tokens, [m for m in marks if m > 0])
        return prompt

    # ----- answer check ------------------------------------------------------------------
    def judge_support(self, passage: str, question: str, answer: str) -> float:
        """The model's probability (0..1) that ``passage`` states ``answer`` to ``question``.

        A yes/no question put to the model; the probability is read from the logits of its
        first reply token ("yes" against "no"), so no text is generated. Holds the model lock.
        """
        prompt = JUDGE_PROMPT.format(passage=" ".join(passage.split()), question=question, answer=answer)
        with self._lock:
            llm = self.llm
            if self._formatter is not None:
                rendered = self._formatter(messages=[{"role": "user", "content": _inert(prompt)}])
                tokens = llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special,
                                      special=True)
            else:
                tokens = llm.tokenize(f"{prompt}\nReply:".encode(), add_bos=True, special=False)
            tokens = tokens[-(self.n_ctx - 1):]
            self.cache.forget_live()
            llm.reset()
            llm.eval(tokens)
            logits = last_logits(llm)
            yes = max(float(logits[t]) for t in first_tokens(llm, ("yes", "Yes", " yes", " Yes")))
            no = max(float(logits[t]) for t in first_tokens(llm, ("no", "No", " no", " No")))
        return 1.0 / (1.0 + math.exp(no - yes))

    # ----- generation --------------------------------------------------------------------
    def _refusal_ids(self) -> set[int]:
        """The first token of each way the answer models open a refusal (`REFUSAL_OPENINGS`)."""
        if self._refusal is None:
            self._refusal = first_tokens(self.llm, REFUSAL_OPENINGS)
        return self._refusal

    def stream(
        self,
        question: str,
        passages: Sequence[Passage],
        history: History = (),
        *,
        language: str = ENGLISH,
        temperature: float | None = None,
        max_tokens: int | None = None,
        conversation: str = "",
    ) -> Generation:
        """The reply, written as it is iterated (`Generation`). The prompt is built when the
        iteration starts, and the model lock is held until it is exhausted or closed; a running
        `prefill` gives way at its next piece. What the model read is kept for ``conversation``."""
        generation = Generation()
        generation.pieces = self._stream(generation, question, passages, history, language, temperature,
                                         max_tokens, conversation)
        return generation

    def prefill(
        self,
        question: str,
        passages: Sequence[Passage],
        history: History = (),
        *,
        language: str = ENGLISH,
        max_tokens: int | None = None,
        conversation: str = "",
        stop: Callable[[], bool] = lambda: False,
    ) -> PrefillResult:
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
            prompt, read = self._read_prompt(question, passages, history, language, max_tokens, superseded)
            self.cache.save(conversation)
        log.info("Prefill: %d tokens reused, %d read of %d%s", read.reused, read.read, len(prompt.tokens),
                 "" if read.complete else " (gave way)")
        return PrefillResult(len(prompt.tokens), read.reused, read.read, read.complete)

    def _read_prompt(self, question: str, passages: Sequence[Passage], history: History, language: str,
                     max_tokens: int | None, should_stop: Callable[[], bool] = lambda: False
                     ) -> tuple[Prompt, ReadResult]:
        """Build the prompt and bring the context to all of it but its last token, reusing what
        it holds (`ContextCache.read`; ``should_stop`` may end the reading early). Holds no lock:
        the caller has the model's."""
        prompt = self.build_prompt(question, passages, history, language=language, max_tokens=max_tokens)
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

    def _stream(self, generation: Generation, question: str, passages: Sequence[Passage], history: History,
                language: str, temperature: float | None, max_tokens: int | None,
                conversation: str) -> Iterator[str]:
        asked = time.perf_counter()
        with self.priority():
            self._lock.acquire()
        try:
            started = time.perf_counter()
            prompt, read = self._read_prompt(question, passages, history, language, max_tokens)
            generation.prompt = prompt
            generation.stats.cached_tokens = read.reused
            log.info("Question: %d of %d prompt tokens read ahead; waited %.2f s for the model", read.reused,
                     len(prompt.tokens), started - asked)
            yield from self._generate(prompt, temperature, generation.stats, started)
            self.cache.save(conversation)
        finally:
            self._lock.release()

    def _generate(
        self, prompt: Prompt, temperature: float | None, stats: GenerationStats, started: float
    ) -> Iterator[str]:
        """Write the reply; the context holds the prompt but its last token (`ContextCache.read`),
        so llama-cpp-python reads that token alone (its prefix match) and starts writing."""
        stats.prompt_tokens = len(prompt.tokens)
        temperature = self.settings.temperature if temperature is None else temperature
        counter = TokenRecorder(self.llm, self._refusal_ids())
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


def llama_class() -> type[Llama]:
    """llama-cpp-python's `Llama`; `ModelNotFoundError` saying how to install it when it is not."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelNotFoundError(
            f"Answering needs llama-cpp-python, which is not installed ({exc}). Run `make install` "
            "(or `pip install -e '.[models]'`, which compiles it).") from exc
    return Llama


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


def _inert(text: str) -> str:
    """User and document text with chat-template markers (``<|im_end|>``, ``<end_of_turn>``) broken up.

    The rendered chat prompt is tokenized with special tokens on, so such strings in a
    document would otherwise end the turn early.
    """
    return text.replace("<|", "< |").replace("<start_of_turn>", "< start_of_turn>").replace(
        "<end_of_turn>", "< end_of_turn>")


def _chat_formatter(llm: Llama):  # noqa: ANN202
    """The GGUF's own chat template as llama-cpp-python renders it, or None (a base model)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id])
