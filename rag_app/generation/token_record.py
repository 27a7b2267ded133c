"""What the model computed for each token it wrote, read from the logits the sampler used.

`TokenRecorder` is called by llama.cpp once per new token (a stopping criterion that never
stops): it counts the tokens, records each one's log-probability and, at the first answer
token, the probability of opening a refusal (`REFUSAL_OPENINGS`): signals of the verified
decision (grounding/signals.py), at no extra model call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from llama_cpp import Llama

# How the answer models open a refusal ("It is not in the documents.", "Ce n'est pas dans les
# documents.", "Les passages ne …" is left out: "Les" opens answers as often): the probability of
# these first tokens at the first answer step is a signal of the decision (grounding/decision.py).
REFUSAL_OPENINGS = ("It", "Not", "None", "No", "Sorry", "Unfortunately", "There", "I",
                    "Ce", "Cela", "Il", "Aucun", "Aucune", "Pas", "Rien", "Je", "Malheureusement", "Désolé")


def first_tokens(llm: Llama, words: Sequence[str]) -> set[int]:
    """The first token of each of ``words`` in the model's vocabulary."""
    return {llm.tokenize(w.encode("utf-8"), add_bos=False, special=False)[0] for w in words}


def last_logits(llm: Llama) -> np.ndarray:
    """The logits of the last token evaluated (llama.cpp keeps them without ``logits_all``)."""
    import llama_cpp

    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))


class TokenRecorder:
    """Called by llama.cpp once per new token (a stopping criterion that never stops).

    It counts the tokens and reads, from the logits the sampler has just used, the model's own
    log-probability of each token (the raw distribution, before temperature and penalties): the
    token sampled from one call's logits is the last input token of the next call, so each
    token is recorded one call later (the last one, usually the end-of-turn token, is not).
    At the first call it also sums the probability of the tokens in ``refusal_ids``.
    """

    def __init__(self, llm: Llama, refusal_ids: Iterable[int]) -> None:
        self.llm = llm
        self.refusal_ids = np.asarray(sorted(refusal_ids), dtype=np.int64)
        self.count = 0
        self.logprobs: list[tuple[str, float]] = []
        self.refusal_start: float | None = None
        self._previous: tuple[np.ndarray, float] | None = None

    def __call__(self, input_ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        if self._previous is not None:
            token = int(input_ids[-1])
            previous, norm = self._previous
            self.logprobs.append((self.llm.detokenize([token]).decode("utf-8", errors="ignore"),
                                  float(previous[token]) - norm))
        current = np.array(last_logits(self.llm), dtype=np.float32)  # a copy: llama.cpp reuses it
        top = float(current.max())  # log-sum-exp in float32 (half a millisecond a token)
        norm = top + math.log(float(np.exp(current - top).sum(dtype=np.float64)))
        if self.count == 0 and self.refusal_ids.size:
            self.refusal_start = float(np.exp(current[self.refusal_ids].astype(np.float64) - norm).sum())
        self._previous = (current, norm)
        self.count += 1
        return False


def stopping(criteria: list[TokenRecorder]) -> Any:
    """The recorders as llama-cpp-python's ``stopping_criteria``."""
    from llama_cpp import StoppingCriteriaList

    return StoppingCriteriaList(criteria)
