"""Prompts in the answer model's own vocabulary: `Renderer`, shared by every runtime.

A model whose GGUF holds a chat template (``tokenizer.chat_template``, e.g. the bundled
SmolLM2-135M-Instruct) is prompted through that template, rendered the way llama-cpp-python's
own chat handler renders it; a model without one (a base model such as Gemma 3 270M) gets a
plain completion prompt ending in "Answer:".

Every length is counted in the model's own tokens; `build_prompt` keeps prompt + answer within
the window (`prompt.build_prompt`). The renderer reads a llama.cpp model: the one loaded to write
(in process), or its vocabulary alone (``vocab_only``, a few MB) when a server writes. It runs
nothing: which runtime writes the reply is the runtime's business (`llama.LlamaGenerator`,
`server.ServerGenerator`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rag_app.config import GenerationSettings
from rag_app.generation.prompt import COMPLETION_STOPS, LABELS, Budget, Prompt, build_prompt, instructions, segment_ends
from rag_app.generation.request import Request
from rag_app.generation.token_record import REFUSAL_OPENINGS, first_tokens
from rag_app.llm.catalogue import ResolvedModel
from rag_app.llm.files import ModelNotFoundError
from rag_app.text import ENGLISH

if TYPE_CHECKING:
    from llama_cpp import Llama

# The yes/no question of `Generator.judge_support` (English: the models judge best in it).
JUDGE_PROMPT = (
    "Passage: {passage}\n\nQuestion: {question}\nProposed answer: {answer}\n\n"
    "Does the passage itself state this answer to this exact question? Reply with one word: yes or no."
)
# Another way to count a text's tokens (the server's own tokenizer), or None to count here.
Counter = Callable[[str, bool], list[int] | None]


class Renderer:
    """Renders and counts prompts for ``model`` with the llama.cpp model ``vocabulary`` (weights
    loaded or not), within the window ``n_ctx`` and the budget of ``settings``."""

    def __init__(self, vocabulary: Llama, model: ResolvedModel, settings: GenerationSettings, n_ctx: int) -> None:
        self.vocabulary = vocabulary
        self.model = model
        self.settings = settings
        self.n_ctx = n_ctx
        self.formatter = chat_formatter(vocabulary)
        # When set, prompts are counted by it (a server whose tokenizer differs from this one).
        self.counter: Counter | None = None
        self._refusal: set[int] | None = None

    @property
    def has_chat_template(self) -> bool:
        """True when the GGUF holds a chat template (an instruction-tuned model)."""
        return self.formatter is not None

    # ----- tokens -------------------------------------------------------------------------
    def prompt_tokens(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        """``text`` in the tokens the model will read (the rendered prompt and its heads): counted
        here, or by ``counter`` when one is set (it reads special-token strings as such; the
        start-of-text token is dropped when not wanted)."""
        if self.counter is not None:
            tokens = self.counter(text, add_bos)
            if tokens is not None:
                return tokens
        return self.vocabulary.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def tokenize(self, text: str) -> list[int]:
        """``text`` in the model's tokens (no special tokens added)."""
        return self.prompt_tokens(text, add_bos=False, special=False)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the model's own tokenizer (no special tokens added)."""
        return len(self.tokenize(text))

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``."""
        return self.vocabulary.detokenize(tokens).decode("utf-8", errors="ignore")

    def refusal_ids(self) -> set[int]:
        """The first token of each way the answer models open a refusal (`REFUSAL_OPENINGS`)."""
        if self._refusal is None:
            self._refusal = first_tokens(self.vocabulary, REFUSAL_OPENINGS)
        return self._refusal

    # ----- prompts ------------------------------------------------------------------------
    def build_prompt(self, request: Request) -> Prompt:
        """The prompt for ``request`` within this model's window (`prompt.build_prompt`)."""
        return build_prompt(self, request, Budget.of(self.settings, self.n_ctx, request.max_tokens))

    def render(self, question: str, blocks: list[str], history: list[tuple[str, str]], language: str) -> Prompt:
        """The prompt through the GGUF's chat template, or a plain completion prompt without one.

        The parts another prompt may share come first and in the same order: the instructions,
        the passages, the earlier turns, and the question last, so a follow-up over the same
        passages, or the question of a draft, reuses what the model has read (`Prompt.segments`).
        """
        labels = LABELS.get(language, LABELS[ENGLISH])
        context = f"{labels[0]}:\n" + "\n\n".join(blocks) if blocks else f"{labels[0]}: (none)"
        if self.formatter is not None:
            prompt, add_bos = self._render_chat(context, question, history, language)
            parts = [inert(b) for b in blocks] + [inert(a) for _, a in history]
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
        text = prompt.text
        marks = [max(text.find(f"{labels[0]}:"), 0)]
        for part in parts:  # each passage and earlier answer ends a part
            at = text.find(part, marks[-1])
            if at >= 0:
                marks.append(at + len(part))
        special = prompt.chat
        prompt.segments = segment_ends(
            lambda head: self.prompt_tokens(head, add_bos=add_bos, special=special),
            text, prompt.tokens, [m for m in marks if m > 0])
        return prompt

    def _render_chat(self, context: str, question: str, history: list[tuple[str, str]], language: str
                     ) -> tuple[Prompt, bool]:
        """The chat prompt (the passages open the first user turn, the oldest question kept, then
        the turns), and whether a start-of-text token was added to it."""
        assert self.formatter is not None
        labels = LABELS.get(language, LABELS[ENGLISH])
        questions = [user for user, _ in history] + [question]
        messages: list[dict[str, str]] = [{"role": "system", "content": instructions(language)}]
        for n, user in enumerate(questions):
            content = f"{context}\n\n{labels[1]}: {user}" if n == 0 else f"{labels[1]}: {user}"
            messages.append({"role": "user", "content": content})
            if n < len(history):
                messages.append({"role": "assistant", "content": history[n][1]})
        for message in messages[1:]:
            message["content"] = inert(message["content"])
        result = self.formatter(messages=messages)
        add_bos = not result.added_special
        tokens = self.prompt_tokens(result.prompt, add_bos=add_bos, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop]
        stop = [s for s in stop if s] + self.model.stops
        return Prompt(tokens, result.prompt, 0, False, 0, 0, stop, chat=True), add_bos

    def judge_prompt(self, passage: str, question: str, answer: str) -> tuple[str, bool, bool]:
        """`JUDGE_PROMPT` rendered for this model: its text, whether a start-of-text token must be
        added, and whether the text holds the model's special tokens (a chat template)."""
        prompt = JUDGE_PROMPT.format(passage=" ".join(passage.split()), question=question, answer=answer)
        if self.formatter is not None:
            rendered = self.formatter(messages=[{"role": "user", "content": inert(prompt)}])
            return rendered.prompt, not rendered.added_special, True
        return f"{prompt}\nReply:", True, False

    def judge_tokens(self, passage: str, question: str, answer: str) -> list[int]:
        """`judge_prompt` in the model's tokens, at most the window but one."""
        text, add_bos, special = self.judge_prompt(passage, question, answer)
        return self.vocabulary.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)[-(self.n_ctx - 1):]


def context_window(settings: GenerationSettings, model: ResolvedModel) -> int:
    """The model's context window: the ``n_ctx`` setting, or the one the catalogue recommends."""
    return settings.n_ctx or model.n_ctx


def llama_class() -> type[Llama]:
    """llama-cpp-python's `Llama`; `ModelNotFoundError` saying how to install it when it is not."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelNotFoundError(
            f"Answering needs llama-cpp-python, which is not installed ({exc}). Run `make install` "
            "(or `pip install -e '.[models]'`, which compiles it).") from exc
    return Llama


def inert(text: str) -> str:
    """User and document text with chat-template markers (``<|im_end|>``, ``<end_of_turn>``) broken up.

    The rendered chat prompt is tokenized with special tokens on, so such strings in a
    document would otherwise end the turn early.
    """
    return text.replace("<|", "< |").replace("<start_of_turn>", "< start_of_turn>").replace(
        "<end_of_turn>", "< end_of_turn>")


def chat_formatter(llm: Llama) -> Any:
    """The GGUF's own chat template as llama-cpp-python renders it (a ``Jinja2ChatFormatter``),
    or None (a base model)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id])
