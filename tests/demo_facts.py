"""Known facts of the demo corpus in data/: where each answer is, for retrieval and answer tests.

``file`` is the file name in data/; ``page`` is set for the PDF (1-based); ``heading`` is the
innermost heading of the section holding the answer (check it with ``in chunk.heading``, the
stored heading is the whole path); ``answer`` is a short string that appears verbatim in that
file's text (case-insensitive, whitespace-collapsed). ``lang`` is the language of the file:
a question in the other language is cross-lingual, which the English embedding model finds
harder (BM25 on shared words such as "Q4_K_M" or "BEIR" still helps).
PDF and DOCX text comes from scripts/build_demo_docs.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoFact:
    question: str
    file: str
    answer: str
    page: int | None = None
    heading: str | None = None
    question_fr: str | None = None

    @property
    def lang(self) -> str:
        """Language of the file holding the answer: "fr" or "en"."""
        return "fr" if self.file in FRENCH_FILES else "en"


FRENCH_FILES = frozenset({"rag_en_pratique.md", "quantification_memoire.txt", "evaluer_un_rag.html"})


DEMO_FACTS: list[DemoFact] = [
    # how_llms_work.pdf: one topic per page.
    DemoFact(
        "How many tokens are in the vocabulary of the GPT-2 tokenizer?",
        "how_llms_work.pdf", "50,257", page=1,
        question_fr="Combien de jetons compte le vocabulaire du tokenizer de GPT-2 ?",
    ),
    DemoFact(
        "How many attention heads per layer does BERT-base have?",
        "how_llms_work.pdf", "12 attention heads", page=2,
    ),
    DemoFact(
        "How many parameters does a rank-8 LoRA adapter train for a 4096 by 4096 matrix?",
        "how_llms_work.pdf", "65,536", page=3,
        question_fr="Combien de paramètres entraîne un adaptateur LoRA de rang 8 pour une matrice 4096 par 4096 ?",
    ),
    DemoFact(
        "How many bits per weight does the GGUF quantization type Q4_K_M use?",
        "how_llms_work.pdf", "4.8 bits per weight", page=4,
        question_fr="Combien de bits par poids utilise le type de quantification GGUF Q4_K_M ?",
    ),
    DemoFact(
        "What is an intrinsic hallucination?",
        "how_llms_work.pdf", "contradicts the source", page=5,
    ),
    # rag_app_user_guide.docx
    DemoFact(
        "On which port does the rag_app chat page run?",
        "rag_app_user_guide.docx", "7860", heading="Running the chat page",
        question_fr="Sur quel port la page de discussion de rag_app fonctionne-t-elle ?",
    ),
    DemoFact(
        "What is the name of the SQLite database file of the rag_app index?",
        "rag_app_user_guide.docx", "index.sqlite3", heading="Where the index lives",
    ),
    # hybrid_search.html
    DemoFact(
        "What value of the constant k is usually used in reciprocal rank fusion?",
        "hybrid_search.html", "60", heading="Reciprocal rank fusion",
    ),
    DemoFact(
        "What is the usual value of the BM25 length normalization parameter b?",
        "hybrid_search.html", "0.75", heading="Lexical search with BM25",
    ),
    # chunking_and_embeddings.md
    DemoFact(
        "How many dimensions do the vectors of all-MiniLM-L6-v2 have?",
        "chunking_and_embeddings.md", "384 dimensions", heading="From text to vectors",
        question_fr="Combien de dimensions ont les vecteurs de all-MiniLM-L6-v2 ?",
    ),
    DemoFact(
        "How many tokens of overlap are there between consecutive chunks by default in rag_app?",
        "chunking_and_embeddings.md", "30 tokens", heading="Overlap between chunks",
    ),
    # rag_en_pratique.md (French)
    DemoFact(
        "Who described retrieval-augmented generation in 2020?",
        "rag_en_pratique.md", "Patrick Lewis", heading="La génération augmentée par récupération",
        question_fr="Qui a décrit la génération augmentée par récupération en 2020 ?",
    ),
    # decoding_and_sampling.txt
    DemoFact(
        "What context window size does rag_app open the model with by default?",
        "decoding_and_sampling.txt", "2048 tokens",
        question_fr="Quelle taille de fenêtre de contexte rag_app utilise-t-il par défaut ?",
    ),
    # quantification_memoire.txt (French, Latin-1)
    DemoFact(
        "How much memory do the weights of a 7-billion-parameter model need in FP16?",
        "quantification_memoire.txt", "14 Go",
        question_fr="Combien de mémoire faut-il pour un modèle de 7 milliards de paramètres en FP16 ?",
    ),
    # evaluer_un_rag.html (French)
    DemoFact(
        "Which measure is the main metric of the BEIR benchmark?",
        "evaluer_un_rag.html", "nDCG@10", heading="Le nDCG@10",
        question_fr="Quelle est la mesure principale du banc d'essai BEIR ?",
    ),
]

# Questions whose answer is clearly not in the demo corpus (the app must say so).
NOT_IN_CORPUS_EN: list[str] = [
    "How long should I boil an egg to get a soft yolk?",
    "Who won the 1998 football World Cup?",
]
NOT_IN_CORPUS_FR: list[str] = [
    "Combien de temps faut-il cuire un œuf à la coque ?",
    "Qui a gagné la Coupe du monde de football en 1998 ?",
]
NOT_IN_CORPUS: list[str] = NOT_IN_CORPUS_EN + NOT_IN_CORPUS_FR

# Near-topic questions the demo corpus cannot answer: their neighbours are in it (BERT-base's
# heads, GPT-2's vocabulary, Q4_K_M's bits, 2020, a 7-billion-parameter model), so retrieval
# finds close passages and a model tends to answer with the neighbour's figure. The app must
# refuse them or flag the reply as unverified, never present it as a supported answer.
NEAR_TOPIC_UNANSWERABLE: list[str] = [
    "How many attention heads per layer does GPT-2 have?",
    "How many tokens are in the vocabulary of the BERT tokenizer?",
    "How many bits per weight does the GGUF quantization type Q3_K_M use?",
    "What is the context window of Mistral 7B?",
    "Qui a décrit la génération augmentée par récupération en 2018 ?",
    "Combien de mémoire faut-il pour un modèle de 13 milliards de paramètres en FP16 ?",
]
