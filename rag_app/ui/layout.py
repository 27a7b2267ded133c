"""The chat page's layout: Gradio components wired to a `ChatPage`'s handlers (served by
`rag_app.web.serve`).

Offline: analytics off, system fonts only, no CDN; listens on 127.0.0.1 unless told otherwise.
Questions from several tabs run at once (`CHAT_CONCURRENCY`; the model itself answers one at a
time); ingestion runs one at a time and never blocks questions. A picker at the top chooses the
collection that questions, uploads and the Documents tab are about.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr  # rag_app/__init__.py has switched its analytics off by now

from rag_app.service.app import SUPPORTED_EXTENSIONS
from rag_app.ui.page import ChatPage

CHAT_CONCURRENCY = 4  # questions handled at once; generation itself is serialized by a lock
# The source panel: a frame that shows /rag/source/… pages (ui/source_routes.py) beside the chat.
SOURCE_PANEL = (
    '<iframe id="rag-source-frame" name="rag-source" title="Source" '
    'style="width:100%;height:760px;border:1px solid #e5e7eb;border-radius:8px;background:#fff" '
    'srcdoc="<p style=&quot;font-family:system-ui;color:#6b7280;padding:1em&quot;>Click '
    '<b>Show in document</b> under a source to see the passage in its page or section here.</p>"></iframe>'
)
# Clicks on "Show in document" links (in the chat's HTML) load them into the source panel.
SOURCE_PANEL_SCRIPT = """<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest ? event.target.closest("a.rag-open") : null;
  const frame = document.getElementById("rag-source-frame");
  if (!link || !frame) return;
  event.preventDefault();
  event.stopPropagation();
  frame.removeAttribute("srcdoc");
  frame.src = link.getAttribute("href");
}, true);
</script>"""
WATCH_REFRESH_S = 5  # how often the page re-reads the index status while the folder is watched

THEME = gr.themes.Default(
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"],
)

CSS = """
.rag-answer .rag-sent.unsupported { background: #fff4e5; border-bottom: 2px dashed #d97706; }
.rag-answer .rag-flag { color: #b45309; font-weight: 600; }
.rag-note { font-size: 0.85em; color: #6b7280; margin-top: 0.4em; }
.rag-refusal { border-left: 4px solid #dc2626; background: #fef2f2; padding: 0.5em 0.8em; border-radius: 6px; }
.rag-refusal-title { font-weight: 700; color: #b91c1c; }
.rag-unverified { border-left: 4px solid #d97706; padding-left: 0.6em; }
.rag-sources { margin-top: 0.8em; border-top: 1px solid #e5e7eb; padding-top: 0.4em; }
.rag-sources-title { font-weight: 700; font-size: 0.9em; }
.rag-source { margin: 0.4em 0; font-size: 0.9em; }
.rag-source-head { font-weight: 600; }
.rag-score { font-weight: 400; color: #6b7280; font-size: 0.85em; }
.rag-quote { margin: 0.2em 0 0.2em 0.5em; padding-left: 0.5em; border-left: 3px solid #cbd5e1; }
.rag-source mark, .rag-quote mark { background: #fde68a; color: inherit; padding: 0 1px; }
.rag-source details summary { cursor: pointer; color: #4b5563; font-size: 0.85em; }
.rag-passage { white-space: normal; color: #374151; font-size: 0.9em; }
.rag-pending { color: #6b7280; font-style: italic; }
.rag-timings { font-size: 0.75em; color: #9ca3af; margin-top: 0.4em; }
.rag-confidence { font-size: 0.8em; color: #6b7280; margin-top: 0.3em; }
.rag-verdict { font-weight: 600; margin-bottom: 0.3em; }
.rag-verdict.checked { color: #15803d; }
.rag-verdict.unchecked { color: #b45309; }
.rag-addressed { color: #b91c1c; margin-bottom: 0.3em; }
"""


def build_blocks(page: ChatPage) -> gr.Blocks:
    """The Gradio page over ``page``."""
    settings = page.settings
    choices = page.app.model_choices()
    with gr.Blocks(title="rag_app — chat with your documents", analytics_enabled=False) as demo:
        gr.Markdown("## Chat with your documents\nAnswers come only from your files, with their sources.")
        with gr.Row(equal_height=True):
            # The collections this person may read (`ChatPage.load`); hidden when there is one.
            collection = gr.Dropdown(label="Collection", choices=[], value=None, visible=False, scale=1,
                                     min_width=200, interactive=True, elem_id="collection")
            status = gr.Markdown(elem_id="index-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    notice = gr.Markdown(visible=False, elem_id="empty-notice")
                    chatbot = gr.Chatbot(
                        elem_id="chat", height=560, latex_delimiters=[], buttons=["copy"],
                        feedback_options=None, show_label=False,
                        placeholder="Ask a question about your documents. Every answer lists its sources.",
                    )
                    with gr.Row():
                        question = gr.Textbox(placeholder="Your question…", show_label=False, scale=8,
                                              elem_id="question", autofocus=True, max_lines=6)
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    clear = gr.Button("Clear conversation", size="sm", elem_id="clear")
                    history = gr.State([])
                with gr.Column(scale=2, min_width=320):
                    gr.HTML(SOURCE_PANEL, elem_id="source-panel")
            with gr.Tab("Documents", id="documents"):
                upload_help = gr.Markdown(elem_id="upload-help")
                upload = gr.File(label="Add documents", file_count="multiple", elem_id="upload",
                                 file_types=sorted(SUPPORTED_EXTENSIONS))
                with gr.Row():
                    replace = gr.Checkbox(label="Replace files with the same name", value=False,
                                          elem_id="replace")
                    add = gr.Button("Add to index", variant="primary", elem_id="add")
                    rescan = gr.Button("Rescan data folder", elem_id="rescan")
                upload_status = gr.Markdown(elem_id="upload-status")
                documents = gr.Dataframe(headers=["Document", "Passages", "Title", "Indexed"],
                                         interactive=False, elem_id="documents", wrap=True)
                failures = gr.Dataframe(headers=["Not indexed", "Reason"], interactive=False,
                                        elem_id="failures", wrap=True)
                with gr.Row():
                    to_remove = gr.Dropdown(label="Remove a document", choices=[], elem_id="remove-choice")
                    confirm = gr.Checkbox(label="Yes, delete the file from the data folder",
                                          value=False, elem_id="remove-confirm")
                    remove = gr.Button("Remove", variant="stop", elem_id="remove")
            with gr.Tab("Settings", id="settings"):
                k = gr.Slider(1, 20, value=settings.retrieval.top_k, step=1, label="Passages per question")
                temperature = gr.Slider(0.0, 2.0, value=settings.generation.temperature, step=0.05,
                                        label="Temperature")
                max_tokens = gr.Slider(16, 2048, value=settings.generation.max_tokens, step=16,
                                       label="Maximum answer length (tokens)")
                model = gr.Dropdown(label=f"Model (the catalogue's, or any .gguf in {settings.paths.models_dir}/)",
                                    choices=[(c.label, c.path) for c in choices],
                                    value=page.model_path, elem_id="model",
                                    interactive=page.keys is None)  # off loopback: shared, not switched
                model_status = gr.Markdown(f"Model: `{Path(page.model_path).name}`")

        index_outputs = [status, notice, documents, failures, to_remove, upload_help]
        ask_inputs = [question, chatbot, history, k, temperature, max_tokens, collection]
        ask_outputs = [chatbot, history, question]
        for trigger in (question.submit, send.click):
            trigger(page.respond, ask_inputs, ask_outputs, concurrency_limit=CHAT_CONCURRENCY,
                    concurrency_id="chat", show_progress="hidden")
        # While the question is typed, the model reads ahead (ChatPage.prefill). Each keystroke
        # notes the newest draft at once (outside the queue), which stops the reading of an older
        # one; the reading itself is queued, each tab's newest draft only (always_last).
        if settings.serve.read_ahead:
            question.input(page.note_draft, question, None, queue=False, show_progress="hidden",
                           api_visibility="private")
            question.input(page.prefill, [question, history, k, max_tokens, collection], None,
                           trigger_mode="always_last",
                           concurrency_limit=CHAT_CONCURRENCY, concurrency_id="draft", show_progress="hidden",
                           api_visibility="private")
        clear.click(lambda: ([], [], ""), None, [chatbot, history, question], queue=False)

        upload.upload(page.add_files, [upload, replace, collection], [upload_status, upload, *index_outputs],
                      concurrency_limit=1, concurrency_id="ingest")
        add.click(page.add_files, [upload, replace, collection], [upload_status, upload, *index_outputs],
                  concurrency_limit=1, concurrency_id="ingest")
        rescan.click(page.rescan, collection, [upload_status, *index_outputs], concurrency_limit=1,
                     concurrency_id="ingest")
        remove.click(page.remove, [to_remove, confirm, collection], [upload_status, confirm, *index_outputs],
                     concurrency_limit=1, concurrency_id="ingest")
        model.change(page.switch_model, model, model_status, concurrency_limit=1,
                     concurrency_id="model")
        collection.input(page.pick, collection, [chatbot, history, question, *index_outputs], queue=False,
                         show_progress="hidden")
        demo.load(page.load, None, [collection, *index_outputs], concurrency_limit=CHAT_CONCURRENCY,
                  concurrency_id="status")
        if page.watching:  # the watcher updates the indexes behind the page's back
            gr.Timer(WATCH_REFRESH_S).tick(page.status_line, collection, status, queue=False,
                                           show_progress="hidden")
    return demo
