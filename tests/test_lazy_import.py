"""`import asyndbt` and its light layers must not pull in llama.cpp or the HTTP stack."""

import subprocess
import sys


def test_import_is_lazy():
    code = (
        "import sys\n"
        "import asyndbt, asyndbt.llm, asyndbt.tasks, asyndbt.prompt\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'llama_cpp', 'httpx', 'httpx2', 'httpcore'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported at package import: {out.stdout}"
