"""Our answers in OpenAI's response shapes, with our own data in the extra ``rag_app`` field
(OpenAI clients ignore fields they do not know; the `openai` package keeps them readable as
``completion.rag_app``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from rag_app.answer import Answer, Disagreement, Evidence, Passage
from rag_app.ui.source_view import source_url

MODEL_PREFIX = "rag_app/"


def model_name(collection: str) -> str:
    """The OpenAI model id of ``collection``."""
    return MODEL_PREFIX + collection


def completion_id() -> str:
    """A new ``chatcmpl-…`` id."""
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def source_link(base_url: str, collection: str, chunk_id: int, sentence: str = "") -> str:
    """The chat page's source panel for a passage of ``collection`` (its page, the sentence
    highlighted)."""
    return base_url.rstrip("/") + source_url(chunk_id, sentence, collection=collection)


def passage_json(passage: Passage, base_url: str, collection: str) -> dict[str, Any]:
    """One passage found, as ``/v1/search`` and the first streamed chunk give it."""
    return {"chunk_id": passage.chunk_id, "file": passage.path, "page": passage.page, "heading": passage.heading,
            "passage": passage.text, "score": passage.score, "dense_score": passage.dense_score,
            "bm25_score": passage.bm25_score, "dense_rank": passage.dense_rank, "bm25_rank": passage.bm25_rank,
            "fused_rank": passage.fused_rank, "ocr": passage.ocr,
            "link": source_link(base_url, collection, passage.chunk_id)}


def _evidence_json(item: Evidence) -> dict[str, Any]:
    return {"sentence": item.text, "file": item.path, "page": item.page, "heading": item.heading,
            "chunk_id": item.chunk_id}


def _disagreement_json(found: Disagreement | None) -> dict[str, Any] | None:
    """Another document that gives another value than the reply (`Answer.disagreement`)."""
    if found is None:
        return None
    return {"file": found.path, "page": found.page, "n": found.number, "sentence": found.sentence,
            "reply_value": found.reply_value, "other_value": found.other_value}


def content(answer: Answer) -> str:
    """The reply a client shows: the answer, and the warning about documents that address the
    assistant (a client that shows only the text must show that too)."""
    note = answer.addressed_note()
    return f"{answer.answer}\n\n{note}" if note else answer.answer


def answer_extra(answer: Answer, base_url: str, collection: str) -> dict[str, Any]:
    """The ``rag_app`` field of an answer: its sources, whether it is verified or refused and why,
    the verdict of each sentence, the evidence sentences and the timings."""
    sources = [{"n": c.n, "file": c.path, "page": c.page, "heading": c.heading, "passage": c.text,
                "supporting_sentence": c.supporting_sentence, "chunk_id": c.chunk_id,
                "link": source_link(base_url, collection, c.chunk_id, c.supporting_sentence)}
               for c in answer.citations]
    t = answer.timings
    return {
        "collection": collection,
        "answer": answer.answer,
        "refused": answer.refused,
        "verified": answer.verified and not answer.refused,
        "verdict": answer.verdict,
        "verdict_line": answer.verdict_line(),
        "documents_say": None if answer.documents_say is None else _evidence_json(answer.documents_say),
        "reason": answer.reason,
        "addressed": [{"file": a.path, "page": a.page, "quote": a.quote, "chunk_id": a.chunk_id}
                      for a in answer.addressed],
        "addressed_note": answer.addressed_note(),
        "disagreement": _disagreement_json(answer.disagreement),
        "scope": list(answer.scope),
        "probability": None if answer.probability is None else round(answer.probability, 4),
        "sources": sources,
        "evidence": [_evidence_json(e) for e in answer.evidence],
        "sentences": [{"text": s.text, "supported": s.supported, "citations": s.citations}
                      for s in answer.sentences],
        "language": answer.language,
        "timings": {"retrieval_ms": t.retrieval_ms, "first_token_ms": t.first_token_ms, "total_ms": t.total_ms,
                    "tokens_per_s": t.tokens_per_s},
    }


def usage(answer: Answer) -> dict[str, int]:
    """OpenAI's token counts."""
    prompt, completion = answer.timings.prompt_tokens, answer.timings.generated_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(answer: Answer, collection: str, base_url: str) -> dict[str, Any]:
    """A whole ``chat.completion``: the message is the answer as the chat page shows it."""
    return {
        "id": completion_id(), "object": "chat.completion", "created": int(time.time()),
        "model": model_name(collection),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content(answer)},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": usage(answer),
        "rag_app": answer_extra(answer, base_url, collection),
    }


def chunk(chunk_id: str, collection: str, delta: dict[str, Any], finish: str | None = None,
          **extra: Any) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a stream."""
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model_name(collection),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
