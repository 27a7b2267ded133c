"""BM25 search with SQLite FTS5: any user text becomes a safe OR of quoted words.

Words found in more than half of the chunks are left out of the search: their BM25 weight is
zero (FTS5 floors a negative IDF), and matching them costs a scan of most of the index. In an
index of `LARGE_INDEX_CHUNKS` or more, words in more than `LARGE_INDEX_COMMON_SHARE` of the
chunks are left out too (their weight is small against the rarer words of the question),
unless the question has no other word. Document frequencies come from the ``chunks_vocab``
(fts5vocab) table.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Sequence

from rag_app.text import search_words

MAX_QUERY_TERMS = 64
LARGE_INDEX_CHUNKS = 50_000
LARGE_INDEX_COMMON_SHARE = 0.1


MAX_RUNS = 64  # a scope in more runs of consecutive chunk ids is searched in one query


def bm25_search(conn: sqlite3.Connection, text: str, k: int, total: int,
                within: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """Chunk ids and BM25 scores (higher is better) of the ``k`` best chunks for ``text``; only
    among the chunk ids ``within`` (ascending) when given, inside the query.

    ``total`` is the number of chunks in the index (read in the caller's transaction). A scope is
    searched run by run (a document's chunks have consecutive ids): FTS5 narrows a rowid range
    at once (0.4 ms for one file among 100,000 chunks here, against 14 ms for ``rowid IN (…)``);
    scores are comparable across runs (the statistics are the whole index's).
    """
    terms = query_terms(text)
    if not terms or k <= 0 or (within is not None and not within):
        return []
    if len(terms) > 1:
        terms = _without_common_terms(conn, terms, total)
    query = fts_query(terms)
    select = "SELECT rowid, bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts WHERE chunks_fts MATCH ? "
    if within is None:
        rows = conn.execute(select + "ORDER BY score LIMIT ?", (query, k)).fetchall()
    elif len(runs := id_runs(within)) <= MAX_RUNS:
        rows = [row for low, high in runs for row in conn.execute(
            select + "AND rowid BETWEEN ? AND ? ORDER BY score LIMIT ?", (query, low, high, k))]
        rows = sorted(rows, key=lambda row: row["score"])[:k]
    else:  # a scope of many scattered documents: one query, the ids as a JSON list
        rows = conn.execute(select + "AND rowid IN (SELECT value FROM json_each(?)) ORDER BY score LIMIT ?",
                            (query, json.dumps([int(i) for i in within]), k)).fetchall()
    return [(int(r["rowid"]), -float(r["score"])) for r in rows]


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending ``ids`` as runs of consecutive ids: [1, 2, 3, 7, 8] -> [(1, 3), (7, 8)]."""
    runs: list[tuple[int, int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _without_common_terms(conn: sqlite3.Connection, terms: list[str], total: int) -> list[str]:
    share = LARGE_INDEX_COMMON_SHARE if total >= LARGE_INDEX_CHUNKS else 0.5
    tokens = {term: fts_token(term) for term in terms}
    distinct = sorted(set(tokens.values()))  # "modèle" and "modele" are one token of the index
    marks = ",".join("?" * len(distinct))
    frequency = dict(conn.execute(
        f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", distinct
    ).fetchall())
    kept = [term for term in terms if frequency.get(tokens[term], 0) <= share * total]
    return kept or terms


def query_terms(text: str, max_terms: int = MAX_QUERY_TERMS) -> list[str]:
    """The distinct words of any user text, lowercased, in order (at most ``max_terms``)."""
    seen: dict[str, None] = {}
    for word in search_words(text):
        seen.setdefault(word, None)
        if len(seen) >= max_terms:
            break
    return list(seen)


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: the terms, each quoted, joined by OR ('' for no terms).

    Quoting every word makes FTS5 operators, quotes and punctuation in the user's text inert.
    """
    return " OR ".join(f'"{word}"' for word in terms)


def phrase_query(text: str, *, prefix: bool = False) -> str:
    """An FTS5 MATCH expression for the words of ``text`` in a row ('' when it has none); with
    ``prefix`` the last word may be the start of a longer one."""
    words = search_words(text)
    if not words:
        return ""
    return f'"{" ".join(words)}"' + ("*" if prefix else "")


def fts_token(word: str) -> str:
    """``word`` as the FTS5 tokenizer stores it (lowercase, diacritics removed)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def holds_terms(text: str, wanted: list[str], prefix: bool) -> bool:
    """Whether ``text``'s words, as the full-text index reads them (`fts_token`), hold the words
    ``wanted`` in a row (the last one as a prefix when ``prefix``)."""
    words = [fts_token(w) for w in search_words(text)]
    n = len(wanted)
    for i in range(len(words) - n + 1):
        if words[i:i + n - 1] == wanted[:-1] and (
                words[i + n - 1].startswith(wanted[-1]) if prefix else words[i + n - 1] == wanted[-1]):
            return True
    return False
