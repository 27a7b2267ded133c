"""`make install`'s last step: the llama.cpp just installed reads a prompt and writes a few tokens.

A wheel compiled with instructions this CPU advertises but does not run (AMX on some virtual
machines) imports fine and crashes on the first prompt. This runs one prompt through the default
answer model in a child process, so that such a crash fails the install, with what to do next,
instead of the first question or the test run. Exit status 0 when the model answered.

Usage: python scripts/check_llama.py WHEEL_FOLDER (the folder the llama.cpp wheel came from).
"""

from __future__ import annotations

import signal
import subprocess
import sys

from llama_cpp import __file__ as llama_cpp_file

from rag_app.config import Settings
from rag_app.llm.files import resolve_llm

PROMPT = "The capital of France is"


def child(model_path: str) -> None:
    """Load the model, read the prompt and write four tokens (in this process)."""
    from llama_cpp import Llama

    llm = Llama(model_path=model_path, n_ctx=256, verbose=False)
    out = llm.create_completion(PROMPT, max_tokens=4, temperature=0.0)
    assert isinstance(out, dict)  # not a stream
    print(f"{PROMPT}{out['choices'][0]['text']}")


def main() -> int:
    """Run `child` in a fresh interpreter; say what to do when it crashed or failed."""
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
        return 0
    model = resolve_llm("", Settings().paths.models_dir)
    wheels = sys.argv[1] if len(sys.argv) > 1 else "~/.cache/rag_app/wheels"
    run = subprocess.run([sys.executable, __file__, "--child", str(model.path)], check=False)
    if run.returncode == 0:
        return 0
    how = (f"crashed ({signal.Signals(-run.returncode).name})" if run.returncode < 0
           else f"failed (exit status {run.returncode})")
    print(
        f"llama.cpp ({llama_cpp_file}) {how} on a first prompt with {model.path.name}. The wheel it "
        f"came from was compiled for instructions this CPU does not run: delete the folder "
        f"{wheels} and run `make install` again to compile it here.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
